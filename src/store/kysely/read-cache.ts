/**
 * A read-through cache of the SQLite store's hottest reads: online-session pages and counts (every
 * `onlineSessions` request), the gateway of each listed session, the token of every request, and
 * the active webhooks (every transaction that changes sessions writes their outbox rows).
 *
 * Why only SQLite: there, this process is the only writer (the single-host shape; agents never write
 * the database), and every write it makes goes through this store's Kysely instance. A plugin sees
 * each write and moves the written table to a new generation, so a cached answer is never older than
 * the last write to its table: exact, with no time-to-live. A commit by another process (the CLI
 * creating or revoking a token, an operator's sqlite3 shell) is caught by SQLite's `data_version`,
 * checked at the first read of each event-loop turn: the reads of one turn (the requests whose bytes
 * one poll of the sockets found) share that check, and the next turn checks again. Checking on every
 * read cost a locked SQLite call each (three or four per `onlineSessions` request, about a tenth of
 * its time under load). On PostgreSQL other replicas write the same rows, so nothing is cached.
 *
 * Concurrent identical reads share one query. A read started before a write is filed under the older
 * generation, so it cannot be served after the write even if it completes later.
 */
import type {
  Kysely,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { Gateway } from '../../domain/gateway.js';
import type { Session } from '../../domain/session.js';
import type { ApiToken } from '../../domain/token.js';
import type { Webhook } from '../../domain/webhook.js';
import type { Keyset, Page, SessionFilter, SessionOrder } from '../store.js';
import type { Database, DialectName } from './database.js';
import { writtenTable } from './written-table.js';
import { KyselyGatewayRepository } from './gateway-repository.js';
import { KyselySessionRepository } from './session-repository.js';
import { KyselyTokenRepository } from './token-repository.js';
import { KyselyWebhookRepository } from './webhook-repository.js';

/** The tables whose reads are cached. A write to any other table leaves the cache alone. */
export type CachedTable = 'sessions' | 'gateways' | 'api_tokens' | 'webhooks';
const CACHED: readonly CachedTable[] = ['sessions', 'gateways', 'api_tokens', 'webhooks'];
/** Distinct entries kept per table; the oldest is dropped first. */
const MAX_ENTRIES = 256;

interface Entry {
  generation: number;
  value: Promise<unknown>;
}

export class ReadCache {
  readonly #tables = new Map<CachedTable, { generation: number; entries: Map<string, Entry> }>(
    CACHED.map((t) => [t, { generation: 0, entries: new Map() }]),
  );
  #external: number | null = null;
  /** True from the first read of an event-loop turn until the turn ends (a setImmediate clears it). */
  #checkedThisTurn = false;
  readonly #turnEnded = (): void => {
    this.#checkedThisTurn = false;
  };

  /** `externalVersion`: SQLite's `data_version`, which moves when another process commits to the file. */
  constructor(private readonly externalVersion: () => number | null = () => null) {}

  /**
   * A number that moves whenever a write to one of `tables` begins or ends in this process, or another
   * process committed to the file (checked as a read would: at the first call of each event-loop turn).
   * Equal numbers mean nothing those tables hold changed in between.
   */
  version(tables: readonly CachedTable[]): number {
    if (!this.#checkedThisTurn) this.#checkExternal();
    let sum = 0;
    for (const name of tables) sum += this.#tables.get(name)!.generation;
    return sum;
  }

  /** `table` changed (or may have; every table when not named): its cached answers are stale. */
  invalidate(table?: string): void {
    for (const [name, t] of this.#tables) {
      if (table !== undefined && table !== name) continue;
      t.generation++;
      t.entries.clear();
    }
  }

  /** The cached answer for `key` of the table's current generation, or `load()`'s (shared with concurrent callers). */
  read<T>(table: CachedTable, key: string, load: () => Promise<T>): Promise<T> {
    if (!this.#checkedThisTurn) this.#checkExternal();
    const t = this.#tables.get(table)!;
    const hit = t.entries.get(key);
    if (hit && hit.generation === t.generation) return hit.value as Promise<T>;
    const value = load();
    if (t.entries.size >= MAX_ENTRIES) t.entries.delete(t.entries.keys().next().value!);
    const entry = { generation: t.generation, value };
    t.entries.set(key, entry);
    // A failed read is not remembered: the next caller asks the database again.
    value.catch(() => {
      if (t.entries.get(key) === entry) t.entries.delete(key);
    });
    return value;
  }

  /** Drops everything if another process committed since the last check; once per event-loop turn. */
  #checkExternal(): void {
    this.#checkedThisTurn = true;
    setImmediate(this.#turnEnded);
    const external = this.externalVersion();
    if (external !== this.#external) {
      this.#external = external;
      this.invalidate();
    }
  }

  /** A Kysely plugin that invalidates the table of every statement that may write it, before it runs and after. */
  plugin(): KyselyPlugin {
    const writes = new WeakMap<object, string | undefined>();
    return {
      transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => {
        const written = writtenTable(args.node);
        if (written !== null) {
          writes.set(args.queryId, written);
          this.invalidate(written);
        }
        return args.node;
      },
      transformResult: (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => {
        if (writes.has(args.queryId)) this.invalidate(writes.get(args.queryId));
        return Promise.resolve(args.result);
      },
    };
  }
}

/** The store's own (not transaction-bound) sessions repository, with its online reads cached. */
export class CachedSessionRepository extends KyselySessionRepository {
  constructor(
    db: Kysely<Database>,
    private readonly cache: ReadCache,
  ) {
    super(db, 'sqlite');
  }

  override listOnline(args: { first: number; after?: Keyset | null; filter?: SessionFilter }): Promise<Page<Session>> {
    return this.cache.read(
      'sessions',
      `list:${JSON.stringify([args.first, args.after ?? null, args.filter ?? {}])}`,
      () => super.listOnline(args),
    );
  }

  /**
   * The page alone, cached as `listOnline` is (one object per generation, so the core keeps its built
   * edges); its gateways are read apart, through the cached gateway repository.
   */
  override listOnlineWithGateways(args: {
    first: number;
    after?: Keyset | null;
    filter?: SessionFilter;
  }): Promise<Page<Session> & { gateways: Gateway[] | null }> {
    return this.cache.read(
      'sessions',
      `listg:${JSON.stringify([args.first, args.after ?? null, args.filter ?? {}])}`,
      async () => ({ ...(await super.listOnline(args)), gateways: null }),
    );
  }

  override listOnlineSorted(args: {
    first: number;
    afterId?: string | null;
    filter?: SessionFilter;
    order: SessionOrder;
  }): Promise<Page<Session>> {
    return this.cache.read(
      'sessions',
      `sorted:${JSON.stringify([args.first, args.afterId ?? null, args.filter ?? {}, args.order])}`,
      () => super.listOnlineSorted(args),
    );
  }

  /** Also covers the counter table: triggers on `sessions` are its only writers. */
  override countOnline(filter?: SessionFilter): Promise<number> {
    return this.cache.read('sessions', `count:${JSON.stringify(filter ?? {})}`, () => super.countOnline(filter));
  }
}

/** Gateways by id, cached: every listed session resolves its gateway. */
export class CachedGatewayRepository extends KyselyGatewayRepository {
  constructor(
    db: Kysely<Database>,
    private readonly cache: ReadCache,
  ) {
    super(db);
  }

  override findById(id: string): Promise<Gateway | null> {
    return this.cache.read('gateways', `id:${id}`, () => super.findById(id));
  }

  /** Each id through the cache: repeated pages find their gateways there, as single lookups do. */
  override async findByIds(ids: readonly string[]): Promise<Gateway[]> {
    const found = await Promise.all(ids.map((id) => this.findById(id)));
    return found.filter((g): g is Gateway => g !== null);
  }
}

/** Tokens by prefix, cached: every request is authenticated. Expiry is judged by the caller at use time. */
export class CachedTokenRepository extends KyselyTokenRepository {
  constructor(
    db: Kysely<Database>,
    dialect: DialectName,
    private readonly cache: ReadCache,
  ) {
    super(db, dialect);
  }

  override findByPrefix(prefix: string): Promise<ApiToken[]> {
    return this.cache.read('api_tokens', `prefix:${prefix}`, () => super.findByPrefix(prefix));
  }

  /** Also cached: every operation on a WebSocket re-reads its token's state. */
  override findById(id: string): Promise<ApiToken | null> {
    return this.cache.read('api_tokens', `id:${id}`, () => super.findById(id));
  }
}

/**
 * Active webhooks, cached, also inside transactions: every transaction that changes sessions reads
 * them to write its outbox rows. A repository that wrote webhooks (insert, delete: the table's only
 * writers) reads them from the database from then on, so an uncommitted list never enters the cache;
 * the write itself dropped the cached one (the plugin). On SQLite no other reader runs while a
 * transaction holds the connection, so every cached list is a committed one.
 */
export class CachedWebhookRepository extends KyselyWebhookRepository {
  #wrote = false;

  constructor(
    db: Kysely<Database>,
    private readonly cache: ReadCache,
  ) {
    super(db, 'sqlite');
  }

  override listActive(): Promise<Webhook[]> {
    if (this.#wrote) return super.listActive();
    return this.cache.read('webhooks', 'active', () => super.listActive());
  }

  override insert(w: Webhook): Promise<void> {
    this.#wrote = true;
    return super.insert(w);
  }

  override markDeleted(id: string, at: number): Promise<boolean> {
    this.#wrote = true;
    return super.markDeleted(id, at);
  }
}
