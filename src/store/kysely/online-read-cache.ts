/**
 * A read-through cache of online-session reads (`listOnline`, `countOnline`) for the SQLite store.
 *
 * Why only SQLite: there, this process is the only writer of the sessions table (the single-host
 * shape; agents and the CLI never write sessions), and every write goes through this store's Kysely
 * instance. A plugin sees each of those writes and moves the cache to a new generation, so a cached
 * answer is never older than the last write: exact, with no time-to-live. A commit by another
 * process is caught by SQLite's `data_version`, checked on every read. On PostgreSQL other replicas
 * write the same rows, so nothing is cached there.
 *
 * Many operators (or one console) asking for the same page between two changes then cost one query,
 * and concurrent identical reads share it. A read started before a write is filed under the older
 * generation, so it cannot be served after the write even if it completes later.
 */
import type { Kysely, KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import type { Session } from '../../domain/session.js';
import type { Keyset, Page, SessionFilter } from '../store.js';
import type { Database } from './database.js';
import { KyselySessionRepository } from './session-repository.js';

/** Distinct (arguments) entries kept; the oldest is dropped first. */
const MAX_ENTRIES = 256;

export class OnlineReadCache {
  #generation = 0;
  readonly #entries = new Map<string, { generation: number; value: Promise<unknown> }>();
  #external: number | null = null;

  /**
   * `externalVersion`: SQLite's `data_version`, which moves when another process commits to the
   * file. Not expected in the single-host shape, but if someone does write it (a second server on the
   * same file, an operator with the sqlite3 shell), the cache notices at the next read.
   */
  constructor(private readonly externalVersion: () => number | null = () => null) {}

  /** The sessions table changed (or may have): every cached answer is stale. */
  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** The cached answer for `key` of the current generation, or `load()`'s (shared with concurrent callers). */
  read<T>(key: string, load: () => Promise<T>): Promise<T> {
    const external = this.externalVersion();
    if (external !== this.#external) {
      this.#external = external;
      this.invalidate();
    }
    const hit = this.#entries.get(key);
    if (hit && hit.generation === this.#generation) return hit.value as Promise<T>;
    const generation = this.#generation;
    const value = load();
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    const entry = { generation, value };
    this.#entries.set(key, entry);
    // A failed read is not remembered: the next caller asks the database again.
    value.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    return value;
  }

  /** A Kysely plugin that invalidates on every statement that may write the sessions table, before it runs and after. */
  plugin(): KyselyPlugin {
    const writes = new WeakSet<object>();
    return {
      transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => {
        if (mayWriteSessions(args.node)) {
          writes.add(args.queryId);
          this.invalidate();
        }
        return args.node;
      },
      transformResult: (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => {
        if (writes.has(args.queryId)) this.invalidate();
        return Promise.resolve(args.result);
      },
    };
  }
}

/** Inserts, updates and deletes of `sessions`, and raw SQL (which cannot be inspected). */
function mayWriteSessions(node: RootOperationNode): boolean {
  switch (node.kind) {
    case 'SelectQueryNode':
      return false;
    case 'InsertQueryNode':
      return names(node.into);
    case 'UpdateQueryNode':
      return names(node.table);
    case 'DeleteQueryNode':
      return node.from.froms.some(names);
    default:
      return true;
  }
}

function names(node: OperationNode | undefined): boolean {
  if (!node) return false;
  if (node.kind === 'AliasNode') return names((node as unknown as { node: OperationNode }).node);
  if (node.kind === 'TableNode') return (node as unknown as { table: { identifier: { name: string } } }).table.identifier.name === 'sessions';
  return true;
}

/** The store's own (not transaction-bound) sessions repository, with its online reads cached. */
export class CachedSessionRepository extends KyselySessionRepository {
  constructor(db: Kysely<Database>, private readonly cache: OnlineReadCache) {
    super(db);
  }

  override listOnline(args: { first: number; after?: Keyset | null; filter?: SessionFilter }): Promise<Page<Session>> {
    return this.cache.read(`list:${JSON.stringify([args.first, args.after ?? null, args.filter ?? {}])}`, () => super.listOnline(args));
  }

  override countOnline(filter?: SessionFilter): Promise<number> {
    return this.cache.read(`count:${JSON.stringify(filter ?? {})}`, () => super.countOnline(filter));
  }
}
