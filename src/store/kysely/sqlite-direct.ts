/**
 * SQLite: the store's precompiled statements (`Precompiled`, `BulkInsert`'s kept texts) run on the
 * connection at once, synchronously, instead of through Kysely's executor, connection provider,
 * driver and the error-translating wrapper around it. better-sqlite3 runs every statement
 * synchronously anyway; what Kysely's path added was its machinery around that call: about 18
 * promises and 3–5 µs per statement, on a disconnect that runs several.
 *
 * The same SQL text runs on the same connection, with the same prepared-statement cache, in the same
 * transaction, and the result has Kysely's shape (`rows`, or `numAffectedRows` and `insertId` for a
 * statement that returns none). What Kysely's path did around the call is kept here:
 * - **The connection's one owner.** Kysely's SQLite driver lends its single connection to one user at
 *   a time (a transaction from BEGIN to COMMIT, a query for its call). A statement of a transaction
 *   runs directly (its transaction holds the connection: nothing else can be on it); a statement
 *   outside any transaction runs directly only while no one holds the connection or waits for it,
 *   and then completes before anything else can run, as one autocommit statement; otherwise it
 *   waits for the connection through Kysely, in turn, as before. In turn matters: a read that
 *   overtook a transaction queued before it (tried) saw a session still online that the
 *   transaction was about to end, and a bulk disconnect then announced one end twice.
 * - **The plugins.** Only for the plugins the store's instance was made with (the read cache's, or
 *   none): the table a statement writes is invalidated before it runs and after, as the read cache's
 *   plugin does. An instance with other plugins (`withPlugin`) takes Kysely's path.
 * - **Errors** are translated as the store's driver translates them (store-errors.ts).
 *
 * PostgreSQL has no direct path: its statements are round trips, and Kysely's pool stays in charge.
 */
import type SqliteDatabase from 'better-sqlite3';
import type { Kysely, KyselyPlugin, QueryResult } from 'kysely';
import type { Database } from './database.js';

/** The SQLite connection as the store's driver lends it (sqlite-immediate-dialect.ts keeps it up to date). */
export class SqliteConnectionState {
  /** The one connection, from its opening until the store is destroyed. */
  db: SqliteDatabase.Database | null = null;
  /** Kysely holds the connection: from its acquisition (a transaction, a query) to its release. */
  held = false;
  /** Kysely's users of the connection: the holder and those waiting for it (its mutex is first come, first served). */
  users = 0;
}

/** What a store's statements need to run directly. */
export interface DirectSqlite {
  connection: SqliteConnectionState;
  /** The plugins the store's Kysely instance was made with. */
  plugins: readonly KyselyPlugin[];
  /** The read cache's invalidation of a written table (undefined: any table), or null without one. */
  invalidate: ((table: string | undefined) => void) | null;
  /** The store's error translation (store-errors.ts). */
  translate: (error: unknown) => unknown;
}

/** Per Kysely adapter: a store's instance and its transactions share one. */
const DIRECT = new WeakMap<object, DirectSqlite>();

/** Lets the precompiled statements of `db` (and of its transactions) run directly. */
export function runStatementsDirectly(db: Kysely<Database>, direct: DirectSqlite): void {
  DIRECT.set(db.getExecutor().adapter, direct);
}

/**
 * Runs `sql` directly on `db`'s SQLite connection when it may (see above), or returns null: then the
 * caller runs it through Kysely. `written`: the table the statement writes (the read cache's
 * `writtenTable`: null for a read, undefined for any table).
 */
export function runDirectly<R>(
  db: Kysely<Database>,
  sql: string,
  written: string | null | undefined,
  parameters: readonly unknown[],
): QueryResult<R> | null {
  const executor = db.getExecutor();
  const direct = DIRECT.get(executor.adapter);
  if (!direct) return null;
  const { connection, invalidate } = direct;
  const sqlite = connection.db;
  // In a transaction: it holds the connection. Outside one: only while no one holds or waits for
  // it, so that a statement never overtakes a transaction that asked for the connection before it.
  const mayRun = db.isTransaction ? connection.held : connection.users === 0;
  if (sqlite === null || !mayRun || !samePlugins(executor.plugins, direct.plugins)) return null;
  if (invalidate && written !== null) invalidate(written);
  let result: QueryResult<R>;
  try {
    const statement = sqlite.prepare(sql);
    if (statement.reader) {
      result = { rows: statement.all(parameters) as R[] };
    } else {
      const { changes, lastInsertRowid } = statement.run(parameters);
      result = { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    }
  } catch (error) {
    throw direct.translate(error);
  }
  if (invalidate && written !== null) invalidate(written);
  return result;
}

function samePlugins(a: readonly KyselyPlugin[], b: readonly KyselyPlugin[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
