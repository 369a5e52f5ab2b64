import type { MigrationDb } from '../database.js';

/**
 * A session's group (ocserv's `Groupname`; `group_name` because GROUP is a reserved word) and the
 * tun device it runs over on the gateway host. Both nullable: sessions stored before this
 * migration, and daemons that have neither, leave them null.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('group_name', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('device', 'text').execute();
}
