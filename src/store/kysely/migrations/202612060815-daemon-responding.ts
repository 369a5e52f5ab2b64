import type { MigrationDb } from '../database.js';

/**
 * Whether a gateway's daemon answered its agent's liveness probe, from the agent's last heartbeat.
 * Existing rows read as responding: nothing said otherwise.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .alterTable('gateways')
    .addColumn('daemon_responding', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
}
