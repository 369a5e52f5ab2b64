import { sql } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * Gateways, sessions (online and ended in one table), API tokens and the append-only audit log.
 * Every list is read newest first by keyset, so each filter gets an index that already has that order:
 * `(filter column, time DESC, id DESC)`, partial on `ended_at IS NULL` for online sessions.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';

  await db.schema
    .createTable('gateways')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('agent_connected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seen_at', int8)
    .addColumn('daemon_started_at', int8)
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // No ON DELETE: a gateway with history cannot be deleted by accident.
    .addColumn('gateway_id', 'text', (c) => c.notNull().references('gateways.id'))
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('common_name', 'text')
    .addColumn('client_address', 'text')
    .addColumn('client_ip', 'text')
    .addColumn('virtual_address', 'text')
    .addColumn('virtual_address6', 'text')
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('connected_at', int8, (c) => c.notNull())
    .addColumn('last_seen_at', int8, (c) => c.notNull())
    .addColumn('bytes_received', int8, (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_sent', int8, (c) => c.notNull().defaultTo(0))
    .addColumn('client_version', 'text')
    .addColumn('client_platform', 'text')
    .addColumn('ended_at', int8)
    .addColumn('end_cause', 'text')
    .addColumn('ended_by_token_id', 'text')
    .addColumn('ended_by_name', 'text')
    .addColumn('end_reason', 'text')
    .addUniqueConstraint('sessions_gateway_id_ref_key', ['gateway_id', 'ref'])
    .execute();

  const online = sql<boolean>`ended_at is null`;
  await db.schema
    .createIndex('sessions_online_idx')
    .on('sessions')
    .columns(['connected_at desc', 'id desc'])
    .where(online)
    .execute();
  for (const column of ['user_id', 'user_name', 'gateway_id', 'client_ip', 'protocol']) {
    await db.schema
      .createIndex(`sessions_online_${column}_idx`)
      .on('sessions')
      .columns([column, 'connected_at desc', 'id desc'])
      .where(online)
      .execute();
  }
  await db.schema
    .createIndex('sessions_ended_idx')
    .on('sessions')
    .columns(['ended_at desc', 'id desc'])
    .where(sql<boolean>`ended_at is not null`)
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', int8, (c) => c.notNull())
    .addColumn('expires_at', int8)
    .addColumn('revoked_at', int8)
    .addColumn('last_used_at', int8)
    .execute();
  await db.schema.createIndex('api_tokens_prefix_idx').on('api_tokens').column('prefix').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', int8, (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('actor_token_id', 'text')
    .addColumn('actor_name', 'text', (c) => c.notNull())
    .addColumn('actor_ip', 'text')
    .addColumn('actor_user_agent', 'text')
    .addColumn('target_session_id', 'text')
    .addColumn('target_user_name', 'text')
    .addColumn('target_gateway_id', 'text')
    .addColumn('reason', 'text')
    .addColumn('error_code', 'text')
    .addColumn('duration_ms', 'double precision')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').columns(['at desc', 'id desc']).execute();
  for (const column of ['action', 'actor_token_id', 'target_session_id', 'target_user_name', 'target_gateway_id']) {
    await db.schema
      .createIndex(`audit_events_${column}_idx`)
      .on('audit_events')
      .columns([column, 'at desc', 'id desc'])
      .execute();
  }

  await refuseAuditChanges(db, dialect);
}

/** The audit log is append-only in the database itself, not only by convention in the code. */
async function refuseAuditChanges(db: MigrationDb, dialect: DialectName): Promise<void> {
  if (dialect === 'postgres') {
    await sql`
      create function audit_events_refuse_change() returns trigger language plpgsql as $$
      begin
        raise exception 'audit_events is append-only: % refused', tg_op;
      end
      $$`.execute(db);
    await sql`
      create trigger audit_events_append_only before update or delete on audit_events
      for each row execute function audit_events_refuse_change()`.execute(db);
    await sql`
      create trigger audit_events_no_truncate before truncate on audit_events
      for each statement execute function audit_events_refuse_change()`.execute(db);
    return;
  }
  await sql`
    create trigger audit_events_no_update before update on audit_events
    begin select raise(abort, 'audit_events is append-only: UPDATE refused'); end`.execute(db);
  await sql`
    create trigger audit_events_no_delete before delete on audit_events
    begin select raise(abort, 'audit_events is append-only: DELETE refused'); end`.execute(db);
}
