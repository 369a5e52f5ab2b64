import { sql } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * The event outbox: every announced fact (a session connected or ended, a token revoked) is a row
 * written in the transaction of the change it reports; a relay on each replica publishes unpublished
 * rows to the bus and marks them published; published rows are pruned after a retention. `seq` keeps
 * the order rows were written in; `claimed_until` is a relay's lease on a row.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema
    .createTable('event_outbox')
    .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('at', int8, (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', int8, (c) => c.notNull())
    .addColumn('claimed_until', int8)
    .addColumn('published_at', int8)
    .execute();
  // The relays' scan: unpublished rows only, in the order they were written.
  await db.schema
    .createIndex('event_outbox_unpublished_idx')
    .on('event_outbox')
    .column('seq')
    .where(sql<boolean>`published_at is null`)
    .execute();
  // Pruning: oldest rows first.
  await db.schema.createIndex('event_outbox_created_idx').on('event_outbox').column('created_at').execute();
}
