import { newId } from '../../../domain/ids.js';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * The deployment's identity: one row, made once here, read by every replica that shares this
 * database. Replicas announce it on the bus, so two deployments that share a NATS subject prefix by
 * mistake see each other's ids and refuse disconnects (see core/deployment-guard.ts). Written by the
 * migration, not at start-up, so that the runtime role only reads it and replicas starting together
 * on a fresh database cannot make two.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema
    .createTable('deployment')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created_at', int8, (c) => c.notNull())
    .execute();
  await db
    .insertInto('deployment')
    .values({ id: newId('deployment'), created_at: Date.now() })
    .execute();
}
