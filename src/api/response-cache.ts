/**
 * Whole answers of repeated reads, kept as the bytes that were sent, until anything they show may
 * have changed: a page of online sessions asked for again costs a lookup and a write, not GraphQL.
 *
 * What may be kept: a query whose root fields are only `onlineSessions`, `onlineSession` and
 * `gateways` (and `__typename`), answered with status 200 and no error. Those answers depend on the
 * request (its exact body, URL, `Accept` and `Content-Type`), the caller's scopes (the only part of
 * the caller they read), the sessions and gateways in the store, and the clock (a gateway shows as
 * connected until its liveness bound passes, `GatewayView.liveUntil`). Fields that read this
 * replica's memory instead (`degradedReason`, `rejectedReports`) make a query not kept.
 *
 * When it is still right: the core's read version (`CoreApi.readVersion`) moves synchronously with
 * every write to the sessions or the gateways, before the write is acknowledged to anyone, so an
 * answer is served only while the version it was made at is still the version now and the clock has
 * not passed its `liveUntil`. An answer whose version moved while it was being made is not kept.
 * Without a version (PostgreSQL, where other replicas write unseen) nothing is kept.
 *
 * What it does not replace: every request is still authenticated (token valid, not revoked, not
 * expired), rate limited and its body read and bounded before the cache is asked; the scopes are part
 * of the key, so an answer is only given to a caller whose scopes equal those of the caller it was
 * made for, who was allowed to run it.
 *
 * Concurrent identical requests at one version share one execution: the first runs it, the others
 * wait for its answer (they asked before any later change began, so its answer is not older than
 * what they may see) and run it themselves if it could not be kept.
 */
import { Kind, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { ReadVersion } from '../core/api-types.js';
import type { PreparedOperation } from './document-cache.js';

/** An answer as sent: the body's bytes, the status and the headers the handler gave it. */
export interface CachedResponse {
  readonly body: Buffer;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The operation's metrics label (root fields). */
  readonly label: string;
}

interface Entry extends CachedResponse {
  /** The clock (core's) after which it may be wrong: the earliest `liveUntil` it showed. */
  readonly validUntil: number;
}

export interface ResponseCacheOptions {
  /** Most answers kept (default 256). */
  maxEntries?: number;
  /** Most bytes kept, answers' bodies and their keys (the requests' bodies) together (default 32 MiB). */
  maxBytes?: number;
}

/** Root fields whose answers are the same for every caller with the same scopes (see the top of the file). */
const ROOT_FIELDS = new Set(['onlineSessions', 'onlineSession', 'gateways', '__typename']);
/** Fields anywhere below them that read this replica's memory, not the store: not kept. */
const REPLICA_FIELDS = new Set(['degradedReason', 'rejectedReports']);

/** Whether answers of `operation` may be kept (memoised on it). */
export function isCacheableRead(operation: PreparedOperation): boolean {
  if (operation.cacheable !== undefined) return operation.cacheable;
  let cacheable = false;
  if (operation.kind === 'query') {
    const fragments = new Map<string, FragmentDefinitionNode>();
    let selections: SelectionSetNode | undefined;
    for (const d of operation.document.definitions) {
      if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
      else if (
        d.kind === Kind.OPERATION_DEFINITION &&
        (operation.operationName === undefined || d.name?.value === operation.operationName)
      )
        selections = d.selectionSet;
    }
    cacheable = selections !== undefined && readsOnlyKeptFields(selections, fragments, true, new Set());
  }
  operation.cacheable = cacheable;
  return cacheable;
}

function readsOnlyKeptFields(
  set: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  root: boolean,
  seen: Set<string>,
): boolean {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      const name = s.name.value;
      if (root ? !ROOT_FIELDS.has(name) : REPLICA_FIELDS.has(name)) return false;
      if (s.selectionSet && !readsOnlyKeptFields(s.selectionSet, fragments, false, seen)) return false;
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      if (!readsOnlyKeptFields(s.selectionSet, fragments, root, seen)) return false;
    } else {
      const name = s.name.value;
      // Validation refused cycles and unknown fragments; `seen` only spares a second walk.
      if (seen.has(`${root}:${name}`)) continue;
      seen.add(`${root}:${name}`);
      const f = fragments.get(name);
      if (!f || !readsOnlyKeptFields(f.selectionSet, fragments, root, seen)) return false;
    }
  }
  return true;
}

/** What the request that makes an answer reports back (`ResponseCache.making`). */
export type Made = (answer: (CachedResponse & { validUntil: number }) | null, now: ReadVersion | null) => void;

export class ResponseCache {
  #version: number | null = null;
  readonly #entries = new Map<string, Entry>();
  readonly #making = new Map<string, { version: number; answer: Promise<Entry | null> }>();
  #bytes = 0;
  readonly #maxEntries: number;
  readonly #maxBytes: number;

  constructor(options: ResponseCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 256;
    this.#maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The answer kept for `key` that is right at `now`; or the one being made for it at the same
   * version (null if it could not be kept); or undefined: the caller makes it (see `making`).
   */
  find(key: string, now: ReadVersion): CachedResponse | Promise<CachedResponse | null> | undefined {
    if (now.version !== this.#version) {
      // Something changed: every answer kept is of an older version. Drop them all at once.
      this.#version = now.version;
      this.#entries.clear();
      this.#bytes = 0;
    }
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (now.at <= entry.validUntil) return entry;
      this.#drop(key, entry);
    }
    const making = this.#making.get(key);
    if (making !== undefined && making.version === now.version) return making.answer;
    return undefined;
  }

  /**
   * The caller makes the answer for `key` at `started`; others asking meanwhile wait for it. The
   * returned function must be called once, with the answer (null: not to be kept) and the read
   * version after it was made: the answer is kept only if that version is still `started`'s.
   */
  making(key: string, started: ReadVersion): Made {
    let settle!: (entry: Entry | null) => void;
    const answer = new Promise<Entry | null>((resolve) => (settle = resolve));
    const record = { version: started.version, answer };
    this.#making.set(key, record);
    return (made, now) => {
      if (this.#making.get(key) === record) this.#making.delete(key);
      const entry = made && now !== null && now.at <= made.validUntil ? made : null;
      settle(entry);
      if (entry === null || now!.version !== started.version || now!.version !== this.#version) return;
      // The key is the request's body (up to the body limit) and is kept as long as the answer: it counts.
      if (entry.body.length + key.length > this.#maxBytes) return;
      const old = this.#entries.get(key);
      if (old !== undefined) this.#drop(key, old);
      this.#entries.set(key, entry);
      this.#bytes += entry.body.length + key.length;
      while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
        const [oldestKey, oldest] = this.#entries.entries().next().value as [string, Entry];
        this.#drop(oldestKey, oldest);
      }
    };
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.body.length + key.length;
  }
}
