import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
} from 'kysely';
import { SqliteConnectionState } from './sqlite-direct.js';

/**
 * Kysely's SQLite dialect, except that transactions start with `BEGIN IMMEDIATE`. A deferred `BEGIN`
 * takes the write lock only at its first write; if another process (say `switchboard token create`
 * next to a running server) wrote in between, SQLite fails the upgrade with SQLITE_BUSY at once
 * instead of waiting out busy_timeout. Taking the lock up front makes the wait apply.
 *
 * Within one process Kysely's driver already serialises everything over its single connection: a
 * transaction holds the connection (a mutex) from BEGIN to COMMIT, so other queries wait for it.
 * `connection` is told whether the connection is held (and which it is), for the store's statements
 * that run on it directly (sqlite-direct.ts).
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #beforeClose: () => Promise<void>;
  readonly #connection: SqliteConnectionState;

  /** `beforeClose` runs when the store is destroyed, before the connection closes. */
  constructor(
    config: SqliteDialectConfig,
    beforeClose: () => Promise<void> = async () => {},
    connection = new SqliteConnectionState(),
  ) {
    super(config);
    this.#config = config;
    this.#beforeClose = beforeClose;
    this.#connection = connection;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#beforeClose, this.#connection);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #beforeClose: () => Promise<void>;
  readonly #connection: SqliteConnectionState;

  constructor(config: SqliteDialectConfig, beforeClose: () => Promise<void>, connection: SqliteConnectionState) {
    super(config);
    this.#beforeClose = beforeClose;
    this.#connection = connection;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    this.#connection.users++;
    try {
      const connection = await super.acquireConnection();
      this.#connection.held = true;
      return connection;
    } catch (error) {
      this.#connection.users--;
      throw error;
    }
  }

  override async releaseConnection(): Promise<void> {
    this.#connection.held = false;
    this.#connection.users--;
    await super.releaseConnection();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async destroy(): Promise<void> {
    this.#connection.db = null;
    await this.#beforeClose();
    await super.destroy();
  }
}
