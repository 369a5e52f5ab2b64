import type { MigrationDb } from '../database.js';

/**
 * A session's transport between client and gateway: `UDP` or `TCP` (OpenVPN's `proto`; WireGuard is
 * always UDP). Nullable: sessions stored before this migration, and gateways that do not say, leave it null.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('transport', 'text').execute();
}
