import type { MigrationDb } from '../database.js';

/**
 * The id of the request (HTTP, SSE) or WebSocket operation behind an audit row, so that a log line
 * and the row it produced can be found from each other; and on a disconnect intent, so that a
 * settlement written later (by any replica) carries the id of the request that asked for it. Rows
 * written before this migration, and work Switchboard does by itself, have none. Adding a nullable
 * column leaves the audit trail's append-only triggers and grants as they are.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('request_id', 'text').execute();
  await db.schema.createIndex('audit_events_request_id_idx').on('audit_events').column('request_id').execute();
  await db.schema.alterTable('disconnect_intents').addColumn('actor_request_id', 'text').execute();
}
