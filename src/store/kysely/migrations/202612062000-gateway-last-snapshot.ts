import type { MigrationDb } from '../database.js';

/**
 * The last snapshot a replica applied to a gateway (its agent run and sequence number): every replica
 * receives every snapshot, and the one that comes second finds it here and writes nothing again
 * (`GatewayRepository.claimSnapshot`). Null until a snapshot is applied after this migration.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('gateways').addColumn('last_snapshot', 'text').execute();
}
