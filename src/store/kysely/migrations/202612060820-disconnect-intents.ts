import { sql } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * Disconnect intents: each disconnect is written here (and as a PENDING audit row) before its
 * gateway is asked, then settled once. At most one PENDING intent per session (a partial unique
 * index), so replicas disconnecting one session agree on a single attempt.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema
    .createTable('disconnect_intents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('created_at', int8, (c) => c.notNull())
    .addColumn('actor_token_id', 'text')
    .addColumn('actor_name', 'text', (c) => c.notNull())
    .addColumn('actor_ip', 'text')
    .addColumn('actor_user_agent', 'text')
    .addColumn('reason', 'text')
    .addColumn('message', 'text')
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('block_seconds', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('unconfirmed_at', int8)
    .addColumn('settled_at', int8)
    .addColumn('audit_event_id', 'text', (c) => c.notNull())
    .addColumn('settled_audit_event_id', 'text')
    .execute();
  await db.schema
    .createIndex('disconnect_intents_one_pending_idx')
    .on('disconnect_intents')
    .column('session_id')
    .unique()
    .where(sql<boolean>`status = 'PENDING'`)
    .execute();
  // The horizon's scan: pending ones, oldest first.
  await db.schema
    .createIndex('disconnect_intents_pending_idx')
    .on('disconnect_intents')
    .columns(['created_at', 'id'])
    .where(sql<boolean>`status = 'PENDING'`)
    .execute();
  await db.schema.createIndex('disconnect_intents_session_idx').on('disconnect_intents').column('session_id').execute();
}
