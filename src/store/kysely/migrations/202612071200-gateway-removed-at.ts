import type { DialectName, MigrationDb } from '../database.js';

/**
 * When a reload of a control plane's gateway file removed the gateway (ms): from then on the reports
 * of an agent that still serves it are ignored, on every replica, until a gateway file lists it again.
 * Existing rows start with none: every gateway there was configured or reported.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema.alterTable('gateways').addColumn('removed_at', int8).execute();
}
