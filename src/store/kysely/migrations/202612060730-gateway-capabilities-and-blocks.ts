import type { DialectName, MigrationDb } from '../database.js';

/**
 * What an agent says its gateway can do (`can_block`, a `warning` about its daemon), and the users
 * blocked from reconnecting: one row per (gateway, user), the store being the source of truth that
 * agents load their blocks from after a restart.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';
  await db.schema
    .alterTable('gateways')
    .addColumn('can_block', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('gateways').addColumn('warning', 'text').execute();

  await db.schema
    .createTable('blocks')
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('until', int8, (c) => c.notNull())
    .addColumn('blocked_at', int8, (c) => c.notNull())
    .addColumn('blocked_by_token_id', 'text')
    .addColumn('blocked_by_name', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('session_id', 'text')
    .addPrimaryKeyConstraint('blocks_pkey', ['gateway_id', 'user_name'])
    .execute();
  await db.schema.createIndex('blocks_until_idx').on('blocks').column('until').execute();
}
