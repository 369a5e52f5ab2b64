import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';
import type { DialectName } from './database.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteConnectionState } from './sqlite-direct.js';
import { ImmediateSqliteDialect } from './sqlite-immediate-dialect.js';
import type { Logger } from '../../domain/logger.js';

/** Where a store lives, parsed from its URL. */
export type DatabaseTarget = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

/** Milliseconds a SQLite writer waits for another process's lock before failing with SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
/** PostgreSQL's OID for int8 (bigint), which also is the type of count(*). */
const PG_INT8_OID = 20;

/**
 * `postgres://…` / `postgresql://…` → PostgreSQL. `sqlite::memory:` → in-memory SQLite.
 * `sqlite:path`, `sqlite://path`, `file:path`, `file:///abs/path` or a plain path → a SQLite file.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const text = url.trim();
  if (text === '') throw new Error('The database URL is empty');
  if (/^postgres(ql)?:\/\//i.test(text)) return { dialect: 'postgres', url: text };
  if (text === 'sqlite::memory:' || text === ':memory:') return { dialect: 'sqlite', path: ':memory:' };
  if (/^file:\/\//i.test(text)) return { dialect: 'sqlite', path: fileURLToPath(text) };
  const prefixed = /^(sqlite|file):(?:\/\/)?(.+)$/i.exec(text);
  if (prefixed) return { dialect: 'sqlite', path: prefixed[2]! };
  // A scheme of two or more letters that is none of the above (one letter is a Windows drive).
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(text);
  if (scheme) {
    throw new Error(`Unsupported database URL scheme "${scheme[1]}:"; use postgres://…, sqlite:path or a file path`);
  }
  return { dialect: 'sqlite', path: text };
}

/**
 * SQLite's `data_version`: it changes when another connection (another process) commits to the
 * file, not on this connection's own commits. Null until the file is opened (on the first query).
 */
export type SqliteDataVersion = () => number | null;

/**
 * Creates a SQLite file's directory and opens the file once, at once: a path that cannot be created
 * or opened (a missing parent that cannot be made, a file where a directory should be, no
 * permission) throws here, with the system's reason. Inside Kysely the same failure left every query
 * waiting for a connection that never came, and `start` hung without a word.
 */
export function probeSqliteFile(path: string): void {
  if (path === ':memory:') return;
  makeDirectory(dirname(resolve(path)));
  new SqliteDatabase(path).close();
}

/**
 * `mkdir -p`, one level at a time. Node's recursive `mkdirSync` never returns where the parent is a
 * directory that refuses new entries with ENOENT (anything under `/proc`): `start` hung there
 * silently. Here each level either exists, is made, or throws the system's reason for that level.
 */
function makeDirectory(dir: string): void {
  if (isDirectory(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirectory(parent);
  try {
    mkdirSync(dir);
  } catch (error) {
    // EEXIST from a racing creator is fine; from a file where the directory should be, it is the reason.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(dir)) throw error;
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** Builds the Kysely dialect for a target. SQLite files get their parent directory created. */
export function createDialect(
  target: DatabaseTarget,
  logger?: Logger,
): {
  dialect: Dialect;
  name: DialectName;
  dataVersion?: SqliteDataVersion;
  /** SQLite: its one connection, for the statements that run on it directly (sqlite-direct.ts). */
  connection?: SqliteConnectionState;
} {
  if (target.dialect === 'postgres') return { dialect: postgresDialect(target.url, logger), name: 'postgres' };
  let read: SqliteDataVersion = () => null;
  const connection = new SqliteConnectionState();
  const dialect = sqliteDialect(target.path, logger, connection, (db) => {
    const stmt = db.prepare('pragma data_version').pluck();
    read = () => stmt.get() as number;
  });
  return { dialect, name: 'sqlite', dataVersion: () => read(), connection };
}

function sqliteDialect(
  path: string,
  logger: Logger | undefined,
  connection: SqliteConnectionState,
  opened: (db: SqliteDatabase.Database) => void,
): Dialect {
  let checkpointer: SqliteCheckpointer | undefined;
  return new ImmediateSqliteDialect(
    {
      database: async () => {
        if (path !== ':memory:') makeDirectory(dirname(resolve(path)));
        const db = new SqliteDatabase(path);
        tuneSqliteConnection(db, path);
        // A file's checkpoints run on another thread (an in-memory database has no log to copy).
        if (path !== ':memory:') checkpointer = SqliteCheckpointer.start(db, logger);
        opened(db);
        cachePreparedStatements(db);
        connection.db = db;
        return db;
      },
    },
    async () => checkpointer?.stop(),
    connection,
  );
}

/** The settings every connection of the store gets (the benchmarks' same-work baselines use them too). */
export function tuneSqliteConnection(db: SqliteDatabase.Database, path: string): void {
  // WAL lets readers (another process, a backup) run beside the one writer; NORMAL sync is
  // durable across application crashes, which is what WAL needs it for.
  if (path !== ':memory:') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  // Statement journals and temporary tables in memory, not in temporary files. A statement that
  // fires triggers (every write to sessions keeps the online counters) opens a statement journal;
  // in a file that cost 70-85 us per row: 10,000 session inserts took 0.9-1.1 s with the counter
  // triggers and 0.25 s without them; in memory, 0.25 s with them (ends: 0.43 s -> 0.08 s).
  // Nothing durable lives there: the journal only undoes a failed statement.
  db.pragma('temp_store = MEMORY');
}

/** How many distinct SQL texts keep their prepared statement (least recently used dropped first). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver prepares every query anew; profiling the reconnect storm showed SQLite's
 * parse-and-plan (`prepare`) as a fifth of all CPU. The store issues a few dozen distinct SQL texts,
 * so keeping their prepared statements skips that work. Safe because Kysely runs each statement to
 * completion (`all`/`run`) before the next one on the single connection; nothing here streams.
 */
function cachePreparedStatements(db: SqliteDatabase.Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, SqliteDatabase.Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (stmt) {
      cache.delete(sql); // re-inserted below: Map order is the recency order
    } else {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, stmt);
    return stmt;
  }) as typeof db.prepare;
}

function postgresDialect(url: string, logger?: Logger): Dialect {
  // bigint columns hold milliseconds and byte counts, far below 2^53; parse them as numbers for this
  // pool only, leaving pg's global parsers alone for any other user in the process.
  const types = new pg.TypeOverrides();
  types.setTypeParser(PG_INT8_OID, (value: string) => Number(value));
  // A connect that hangs (server overloaded, packets dropped) fails after 5 s instead of holding the request.
  const pool = new pg.Pool({ connectionString: url, types, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (error) => logger?.error({ err: error }, 'idle PostgreSQL connection failed'));
  // A client in use when its connection resets emits 'error' too, where the pool no longer listens:
  // the query in flight fails with it (and the caller is told); the event itself must not crash the process.
  pool.on('connect', (client) =>
    client.on('error', (error) => logger?.error({ err: error }, 'PostgreSQL connection failed while in use')),
  );
  return new PostgresDialect({ pool });
}

/**
 * Which store a target is, for messages: the SQLite file's absolute path (a relative path depends on
 * the current directory), or the PostgreSQL URL without its password.
 */
export function describeTarget(target: DatabaseTarget): string {
  if (target.dialect === 'sqlite')
    return target.path === ':memory:' ? 'SQLite in memory' : `SQLite ${resolve(target.path)}`;
  try {
    const url = new URL(target.url);
    if (url.password) url.password = '***';
    return `PostgreSQL ${url.toString()}`;
  } catch {
    return 'PostgreSQL (a URL that does not parse)';
  }
}
