import type { MigrationDb } from '../database.js';

/**
 * A block's message: what the disconnect that set it told the user (its `message`), so the Blocks
 * page can show it beside the reason. Nullable: blocks set before this migration, and disconnects
 * without a message, leave it null.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('blocks').addColumn('message', 'text').execute();
}
