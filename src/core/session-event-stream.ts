import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { Logger } from './logger.js';
import type { SessionEvent } from './session-events.js';

/** What a live subscriber wants; every given field must match. */
export interface SessionEventFilter {
  gatewayId?: string;
  userName?: string;
  types?: SessionEvent['type'][];
}

/** Events a subscriber may fall behind by before its stream is ended (a stuck client must not grow memory). */
export const MAX_BACKLOG = 1000;

export function matchesFilter(e: SessionEvent, f: SessionEventFilter): boolean {
  return (f.gatewayId === undefined || e.session.gatewayId === f.gatewayId)
    && (f.userName === undefined || e.session.userName === f.userName)
    && (f.types === undefined || f.types.length === 0 || f.types.includes(e.type));
}

/**
 * One bus subscription per process on `subjects.sessionEvents`, fanned out to every live subscriber
 * here. On NATS each replica's hub receives every event, whichever replica caused it. The bus
 * subscription exists only while someone listens.
 */
export class SessionEventHub {
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  /** Per token id: how to end each of its streams (a revoked token's subscriptions end at once). */
  private readonly byToken = new Map<string, Set<() => void>>();
  private unsubscribe: Unsubscribe[] = [];

  constructor(private readonly deps: { bus: Bus; logger: Logger }) {}

  get size(): number {
    return this.listeners.size;
  }

  /**
   * A stream of matching events from now on; `return()` on it (a closed subscription) cleans up.
   * `tokenId`: the stream ends when that token is revoked (on any replica).
   */
  stream(filter: SessionEventFilter, tokenId: string | null = null): AsyncIterableIterator<SessionEvent> {
    const queue: SessionEvent[] = [];
    let wake: ((r: IteratorResult<SessionEvent>) => void) | null = null;
    let done = false;
    const finish = (): IteratorResult<SessionEvent> => {
      done = true;
      this.remove(listener);
      if (tokenId !== null) {
        const set = this.byToken.get(tokenId);
        set?.delete(end);
        if (set?.size === 0) this.byToken.delete(tokenId);
      }
      queue.length = 0;
      wake?.({ value: undefined, done: true });
      wake = null;
      return { value: undefined, done: true };
    };
    const listener = (e: SessionEvent) => {
      if (done || !matchesFilter(e, filter)) return;
      if (wake) {
        const w = wake;
        wake = null;
        w({ value: e, done: false });
      } else if (queue.length >= MAX_BACKLOG) {
        this.deps.logger.warn({ backlog: queue.length }, 'a session event subscriber fell too far behind; ending its stream');
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
    this.add(listener);
    return {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: () => Promise.resolve(finish()),
      throw: (error: unknown) => {
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
        for (const l of this.listeners) l(data as SessionEvent);
      }),
      this.deps.bus.subscribe(subjects.tokenRevoked, (data) => {
        const tokenId = (data as { tokenId?: unknown } | null)?.tokenId;
        if (typeof tokenId !== 'string') return;
        for (const end of [...(this.byToken.get(tokenId) ?? [])]) end();
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
