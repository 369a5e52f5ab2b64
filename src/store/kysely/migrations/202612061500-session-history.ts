import { sql } from 'kysely';
import type { MigrationDb } from '../database.js';

/**
 * Indexes for session history (online and ended sessions, newest first): the online indexes are
 * partial on `ended_at IS NULL` and cannot serve it. Each is `(key, connected_at DESC, id DESC)` over
 * every row, so a user's or an address's page is one short range scan at any table size; the time
 * index alone serves a gateway's history and everyone's. The user name is indexed folded
 * (`lower(user_name)`), as history compares it. The client's `ip:port` is found through `client_ip`.
 * No index on stats columns: byte-counter updates of online sessions stay as cheap as before.
 */
export async function up(db: MigrationDb): Promise<void> {
  await sql`create index sessions_history_idx on sessions (connected_at desc, id desc)`.execute(db);
  await sql`create index sessions_history_user_name_idx on sessions (lower(user_name), connected_at desc, id desc)`.execute(
    db,
  );
  for (const column of ['client_ip', 'virtual_address', 'virtual_address6']) {
    await sql`create index ${sql.raw(`sessions_history_${column}_idx`)} on sessions (${sql.ref(column)}, connected_at desc, id desc)`.execute(
      db,
    );
  }
}
