import type { DialectName, MigrationDb } from '../database.js';

/**
 * Since when a gateway's link state has held, and the last problem reported for its daemon link
 * (with when it began), for operators. Existing rows start with none: nothing was recorded.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema.alterTable('gateways').addColumn('status_since', int8).execute();
  await db.schema.alterTable('gateways').addColumn('last_error', 'text').execute();
  await db.schema.alterTable('gateways').addColumn('last_error_at', int8).execute();
}
