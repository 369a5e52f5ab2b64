import { DomainError } from '../domain/errors.js';
import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { StoreHealth } from './event-relay.js';
import type { Logger } from '../domain/logger.js';
import { readWire, sessionEventSchema, tokenRevokedSchema } from './reports.js';
import type { SessionEvent } from './session-events.js';

/** What a live subscriber wants; every given field must match. */
export interface SessionEventFilter {
  gatewayId?: string;
  userName?: string;
  types?: SessionEvent['type'][];
}

/** Events a subscriber may fall behind by before its stream is ended (a stuck client must not grow memory). */
export const MAX_BACKLOG = 1000;
/**
 * Event ids remembered to drop duplicates. The relay publishes at least once; a duplicate comes
 * within a lease (seconds) of the first copy, far fewer events than this apart.
 */
export const DEDUPE_WINDOW = 10_000;

export const BUS_UNAVAILABLE_MESSAGE =
  'This replica lost its connection to the message bus, so live events cannot reach it; subscribe again (another replica can serve you)';
export const STORE_UNAVAILABLE_MESSAGE =
  'This replica cannot reach its database, so live events cannot reach it; subscribe again (another replica can serve you)';

export function matchesFilter(e: SessionEvent, f: SessionEventFilter): boolean {
  return (
    (f.gatewayId === undefined || e.session.gatewayId === f.gatewayId) &&
    (f.userName === undefined || e.session.userName === f.userName) &&
    (f.types === undefined || f.types.length === 0 || f.types.includes(e.type))
  );
}

/**
 * One bus subscription per process on `subjects.sessionEvents`, fanned out to every live subscriber
 * here. On NATS each replica's hub receives every event, whichever replica's relay published it. The
 * bus subscription exists only while someone listens. Each event id passes once (the relay publishes
 * at least once), so a stream sees each event once.
 *
 * A replica that cannot get events is not silent: when its bus or its database is lost, every open
 * stream ends with a coded error (BUS_UNAVAILABLE, STORE_UNAVAILABLE), and new streams are refused
 * the same way until it is back, so clients go to a healthy replica instead of waiting for nothing.
 */
export class SessionEventHub {
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  /** Per token id: how to end each of its streams (a revoked token's subscriptions end at once). */
  private readonly byToken = new Map<string, Set<() => void>>();
  /** How to end each open stream with an error. */
  private readonly failers = new Set<(error: DomainError) => void>();
  private unsubscribe: Unsubscribe[] = [];
  private readonly seen = new Set<string>();
  private store: StoreHealth = { ok: true };

  constructor(private readonly deps: { bus: Bus; logger: Logger }) {
    deps.bus.onConnectedChange((up) => {
      if (!up) this.failAll();
    });
  }

  /** The relay's view of the store: while unavailable, streams end and new ones are refused. */
  setStoreHealth(health: StoreHealth): void {
    this.store = health;
    if (!health.ok) this.failAll();
  }

  /** Why this replica cannot serve live events now, or null when it can. */
  unavailable(): DomainError | null {
    if (!this.deps.bus.connected) return new DomainError('BUS_UNAVAILABLE', BUS_UNAVAILABLE_MESSAGE);
    if (!this.store.ok) return new DomainError('STORE_UNAVAILABLE', STORE_UNAVAILABLE_MESSAGE);
    return null;
  }

  private failAll(): void {
    const error = this.unavailable();
    if (!error) return;
    if (this.failers.size > 0)
      this.deps.logger.warn(
        { code: error.code, streams: this.failers.size },
        'ending live event streams: this replica cannot get events',
      );
    for (const fail of [...this.failers]) fail(error);
  }

  get size(): number {
    return this.listeners.size;
  }

  /**
   * A stream of matching events from now on; `return()` on it (a closed subscription) cleans up.
   * `tokenId`: the stream ends when that token is revoked (on any replica).
   */
  stream(filter: SessionEventFilter, tokenId: string | null = null): AsyncIterableIterator<SessionEvent> {
    const refused = this.unavailable();
    if (refused) throw refused;
    const queue: SessionEvent[] = [];
    let wake: { resolve: (r: IteratorResult<SessionEvent>) => void; reject: (e: unknown) => void } | null = null;
    let done = false;
    /** Set when the stream ends with an error: given after the events already queued. */
    let failure: DomainError | null = null;
    const finish = (): IteratorResult<SessionEvent> => {
      done = true;
      this.failers.delete(fail);
      this.remove(listener);
      if (tokenId !== null) {
        const set = this.byToken.get(tokenId);
        set?.delete(end);
        if (set?.size === 0) this.byToken.delete(tokenId);
      }
      if (failure === null) queue.length = 0;
      if (wake && failure) {
        // Waiting means nothing is queued: the error is the next thing, and the last.
        wake.reject(failure);
        failure = null;
      } else {
        wake?.resolve({ value: undefined, done: true });
      }
      wake = null;
      return { value: undefined, done: true };
    };
    const fail = (error: DomainError) => {
      if (done) return;
      failure = error;
      finish();
    };
    const listener = (e: SessionEvent) => {
      if (done || !matchesFilter(e, filter)) return;
      if (wake) {
        const w = wake;
        wake = null;
        w.resolve({ value: e, done: false });
      } else if (queue.length >= MAX_BACKLOG) {
        this.deps.logger.warn(
          { backlog: queue.length },
          'a session event subscriber fell too far behind; ending its stream',
        );
        finish();
      } else {
        queue.push(e);
      }
    };
    const end = () => void finish();
    if (tokenId !== null) {
      if (!this.byToken.has(tokenId)) this.byToken.set(tokenId, new Set());
      this.byToken.get(tokenId)!.add(end);
    }
    this.failers.add(fail);
    this.add(listener);
    return {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (failure) {
          const error = failure;
          failure = null; // once: then the stream is simply done
          return Promise.reject(error);
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (wake = { resolve, reject }));
      },
      return: () => {
        failure = null;
        return Promise.resolve(finish());
      },
      throw: (error: unknown) => {
        failure = null;
        finish();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private add(listener: (e: SessionEvent) => void): void {
    this.listeners.add(listener);
    if (this.unsubscribe.length > 0) return;
    this.unsubscribe = [
      this.deps.bus.subscribe(subjects.sessionEvents, (data) => {
        const read = readWire(sessionEventSchema, data);
        if (!read.ok) {
          this.deps.logger.warn(
            { problem: read.problem, detail: read.detail },
            'session event refused: it does not fit the wire contract',
          );
          return;
        }
        const event = read.value as SessionEvent;
        if (this.seen.has(event.id)) return;
        this.seen.add(event.id);
        if (this.seen.size > DEDUPE_WINDOW) this.seen.delete(this.seen.values().next().value!);
        for (const l of this.listeners) l(event);
      }),
      this.deps.bus.subscribe(subjects.tokenRevoked, (data) => {
        const revoked = readWire(tokenRevokedSchema, data);
        if (!revoked.ok) {
          this.deps.logger.warn(
            { problem: revoked.problem, detail: revoked.detail },
            'token revocation message refused: it does not fit the wire contract',
          );
          return;
        }
        for (const end of [...(this.byToken.get(revoked.value.tokenId) ?? [])]) end();
      }),
    ];
  }

  private remove(listener: (e: SessionEvent) => void): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) {
      for (const u of this.unsubscribe.splice(0)) u();
    }
  }
}
