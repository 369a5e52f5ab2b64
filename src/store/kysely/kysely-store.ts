/**
 * The store over Kysely: one code path for SQLite (the single-host default) and PostgreSQL (many
 * hosts). `openStore` is the only way in; it migrates the schema before it returns.
 */
import { Kysely } from 'kysely';
import type { OutboxTaker, Store, StoreReadiness, StoreTx } from '../store.js';
import { KyselyAuditRepository } from './audit-repository.js';
import { KyselyBlockRepository } from './block-repository.js';
import type { Database, DialectName } from './database.js';
import { createDialect, describeTarget, parseDatabaseUrl, probeSqliteFile } from './dialect.js';
import { storeOpenError } from './open-errors.js';
import { storeErrorTranslation, withStoreErrors } from './store-errors.js';
import { runStatementsDirectly } from './sqlite-direct.js';
import { KyselyGatewayRepository } from './gateway-repository.js';
import { KyselyIntentRepository } from './intent-repository.js';
import {
  CachedGatewayRepository,
  CachedSessionRepository,
  CachedTokenRepository,
  CachedWebhookRepository,
  ReadCache,
} from './read-cache.js';
import { grantRuntimeRole } from './runtime-grants.js';
import { migrateSchema } from './schema-migrator.js';
import { KyselyOutboxRepository, type OutboxHandOff } from './outbox-repository.js';
import { KyselySessionRepository } from './session-repository.js';
import { StoreSetupError } from './store-setup-error.js';
import type { Logger } from '../../domain/logger.js';
import { StoreReadinessCheck } from './store-readiness.js';
import { KyselyTokenRepository } from './token-repository.js';
import { KyselyWebhookRepository } from './webhook-repository.js';

export { StoreSetupError } from './store-setup-error.js';

export interface OpenStoreOptions {
  logger?: Logger;
  /**
   * SQLite only: cache the hottest reads between writes (see read-cache.ts). Default true; a process
   * that only reads another process's file, and benchmarks of the database itself, turn it off.
   */
  cacheReads?: boolean;
}

/**
 * Opens the store at `url` and brings its schema up to date.
 * `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:path`, `file:path` or a plain path → a
 * SQLite file (its directory is created); `sqlite::memory:` → in-memory SQLite. Any other scheme
 * throws. Opening twice, or from two processes at once, is safe: applied migrations are skipped.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<KyselyStore> {
  const target = parseDatabaseUrl(url);
  try {
    if (target.dialect === 'sqlite') probeSqliteFile(target.path);
  } catch (error) {
    throw storeOpenError(error, describeTarget(target));
  }
  const { dialect, name, dataVersion, connection } = createDialect(target, options.logger);
  // Start-up failures keep their detail (the CLI prints it); later outages answer STORE_UNAVAILABLE.
  const storeErrors = { active: false };
  const cache = name === 'sqlite' && options.cacheReads !== false ? new ReadCache(dataVersion) : null;
  const plugins = cache ? [cache.plugin()] : [];
  const db = new Kysely<Database>({ dialect: withStoreErrors(dialect, options.logger, storeErrors), plugins });
  if (connection) {
    // SQLite: the precompiled statements run on the connection itself (sqlite-direct.ts).
    runStatementsDirectly(db, {
      connection,
      plugins: db.getExecutor().plugins,
      invalidate: cache && ((table) => cache.invalidate(table)),
      translate: storeErrorTranslation(options.logger, storeErrors),
    });
  }
  try {
    await migrateSchema(db, name, options.logger);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw storeOpenError(error, describeTarget(target));
  }
  storeErrors.active = true;
  return new KyselyStore(db, name, cache);
}

/** What `migrateDatabase` did. */
export interface MigrationReport {
  dialect: DialectName;
  /** Migration ids applied now, oldest first (empty: the schema was current). */
  applied: string[];
  /** The grant statements run for the runtime role (PostgreSQL, when one was named). */
  grants: string[];
}

/**
 * `switchboard migrate`: brings the schema at `url` up to date as the connected role (the owner)
 * and, on PostgreSQL, grants `runtimeRole` what replicas need (runtime-grants.ts). Closes what it opened.
 */
export async function migrateDatabase(
  url: string,
  options: { runtimeRole?: string; logger?: Logger } = {},
): Promise<MigrationReport> {
  const target = parseDatabaseUrl(url);
  if (options.runtimeRole !== undefined && target.dialect !== 'postgres') {
    throw new StoreSetupError(
      '--runtime-role: database roles exist only on PostgreSQL; a SQLite file has no roles (see docs/security.md)',
    );
  }
  const { dialect, name } = createDialect(target, options.logger);
  const db = new Kysely<Database>({ dialect });
  try {
    const applied = await migrateSchema(db, name, options.logger);
    const grants = options.runtimeRole === undefined ? [] : await grantRuntimeRole(db, options.runtimeRole);
    return { dialect: name, applied, grants };
  } catch (error) {
    throw storeOpenError(error, describeTarget(target));
  } finally {
    await db.destroy();
  }
}

/** `inTransaction`: only the webhooks' reads are cached there (see CachedWebhookRepository); the rest must see the transaction's own writes. */
function repositories(
  db: Kysely<Database>,
  dialect: DialectName,
  cache: ReadCache | null,
  inTransaction = false,
  handOff: OutboxHandOff | null = null,
): StoreTx {
  const outer = cache && !inTransaction ? cache : null;
  const webhooks = cache ? new CachedWebhookRepository(db, cache) : new KyselyWebhookRepository(db, dialect);
  return {
    sessions: outer ? new CachedSessionRepository(db, outer) : new KyselySessionRepository(db, dialect),
    gateways: outer ? new CachedGatewayRepository(db, outer) : new KyselyGatewayRepository(db),
    tokens: outer ? new CachedTokenRepository(db, dialect, outer) : new KyselyTokenRepository(db, dialect),
    audit: new KyselyAuditRepository(db),
    webhooks,
    blocks: new KyselyBlockRepository(db),
    outbox: new KyselyOutboxRepository(db, dialect, webhooks, handOff),
    intents: new KyselyIntentRepository(db, dialect),
  };
}

/** What the online sessions, their counts and the gateways are read from (`readVersion`). */
const READ_MODEL_TABLES = ['sessions', 'gateways'] as const;

/** The Store port over one Kysely instance. */
export class KyselyStore implements Store {
  readonly sessions: StoreTx['sessions'];
  readonly gateways: StoreTx['gateways'];
  readonly tokens: StoreTx['tokens'];
  readonly audit: StoreTx['audit'];
  readonly webhooks: StoreTx['webhooks'];
  readonly blocks: StoreTx['blocks'];
  readonly outbox: StoreTx['outbox'];
  readonly intents: StoreTx['intents'];
  readonly transactionsCostRoundTrips: boolean;
  #closed = false;
  #taker: OutboxTaker | null = null;
  readonly #readiness: StoreReadinessCheck;

  /**
   * `db` is the raw Kysely instance, for tests and operations tooling only (raw SQL checks,
   * EXPLAIN). Application code goes through the repositories; it is not part of the Store port.
   */
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    private readonly cache: ReadCache | null = null,
  ) {
    ({
      sessions: this.sessions,
      gateways: this.gateways,
      tokens: this.tokens,
      audit: this.audit,
      webhooks: this.webhooks,
      blocks: this.blocks,
      outbox: this.outbox,
      intents: this.intents,
    } = repositories(db, dialect, cache));
    this.#readiness = new StoreReadinessCheck(db, dialect);
    this.transactionsCostRoundTrips = dialect === 'postgres';
  }

  checkReady(timeoutMs: number): Promise<StoreReadiness> {
    return this.#readiness.check(timeoutMs);
  }

  readVersion(): number | null {
    return this.cache ? this.cache.version(READ_MODEL_TABLES) : null;
  }

  #deploymentId: string | null = null;

  async deploymentId(): Promise<string> {
    if (this.#deploymentId !== null) return this.#deploymentId;
    const row = await this.db.selectFrom('deployment').select('id').orderBy('created_at').limit(1).executeTakeFirst();
    if (!row) throw new Error('the deployment table is empty: the store was not migrated by this version');
    this.#deploymentId = row.id;
    return row.id;
  }

  /**
   * Runs `fn` with repositories bound to one transaction; a throw rolls everything back and
   * rethrows. On SQLite the transaction holds the only connection until it ends, so other queries
   * wait for it rather than slipping into it. Inside `fn`, use only `tx`: awaiting the store's own
   * repositories there would wait for the transaction itself on SQLite.
   */
  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    // Reads inside a transaction go to the database (they must see its own writes), except the
    // active webhooks of a transaction that has not written webhooks (see CachedWebhookRepository).
    // Other reads waited for SQLite's one connection until the transaction ended.
    const handOff = this.#taker && { taker: this.#taker, leased: [] };
    const result = await this.db
      .transaction()
      .execute((trx) => fn(repositories(trx, this.dialect, this.cache, true, handOff)));
    // Committed: the events are the taker's to publish (a throw above hands nothing). The commit
    // stands whatever the taker does; rows it fails to take wait for their lease to end.
    if (handOff && handOff.leased.length > 0)
      try {
        handOff.taker.take(handOff.leased);
      } catch {
        // Published by any relay after the lease.
      }
    return result;
  }

  handOffOutbox(taker: OutboxTaker | null): void {
    this.#taker = taker;
  }

  /** Closes the pool or file. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }
}
