import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
} from 'kysely';

/**
 * Kysely's SQLite dialect, except that transactions start with `BEGIN IMMEDIATE`. A deferred `BEGIN`
 * takes the write lock only at its first write; if another process (say `switchboard token create`
 * next to a running server) wrote in between, SQLite fails the upgrade with SQLITE_BUSY at once
 * instead of waiting out busy_timeout. Taking the lock up front makes the wait apply.
 *
 * Within one process Kysely's driver already serialises everything over its single connection: a
 * transaction holds the connection (a mutex) from BEGIN to COMMIT, so other queries wait for it.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #beforeClose: () => Promise<void>;

  /** `beforeClose` runs when the store is destroyed, before the connection closes. */
  constructor(config: SqliteDialectConfig, beforeClose: () => Promise<void> = async () => {}) {
    super(config);
    this.#config = config;
    this.#beforeClose = beforeClose;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#beforeClose);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #beforeClose: () => Promise<void>;

  constructor(config: SqliteDialectConfig, beforeClose: () => Promise<void>) {
    super(config);
    this.#beforeClose = beforeClose;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async destroy(): Promise<void> {
    await this.#beforeClose();
    await super.destroy();
  }
}
