import { copyOf } from './copy.js';
import { BusTimeoutError, subjectMatches, type Bus, type SubscribeOptions, type Unsubscribe } from '../bus.js';

/** Subjects whose matching subscriptions are kept (a fleet publishes on a few subjects per gateway). */
const MAX_ROUTES = 10_000;

type Handler = (data: unknown, subject: string) => void | Promise<void>;
/** The matches of one subject: plain ones, and each queue group's members. */
interface Route<T> {
  plain: T[];
  groups: [string, T[]][];
}

interface Sub {
  pattern: string;
  handler: Handler;
  queue?: string;
}
type Server = (data: unknown) => Promise<unknown>;
interface Srv {
  pattern: string;
  handler: Server;
  queue?: string;
}

/**
 * The in-process bus for a single host. Messages are delivered asynchronously (next microtask) and
 * in publish order per subscriber; values are copied (`copyOf`: what structuredClone gives) so the publisher and its receivers
 * share no mutable object, exactly as if they had crossed a wire (the subscribers of one message share
 * one copy, as on NATS, where they share one decoded value and never change it).
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private subs = new Set<Sub>();
  private servers = new Set<Srv>();
  private rr = new Map<string, number>();
  /** Per subject published to: the matching subscriptions (plain ones, then queue groups); cleared on every (un)subscribe. */
  private routes = new Map<string, Route<Sub>>();
  /** The same for request/reply: the servers matching a subject, until they change. */
  private serverRoutes = new Map<string, Route<Srv>>();
  private closed = false;
  private readonly watchers = new Set<(connected: boolean) => void>();

  onConnectedChange(listener: (connected: boolean) => void): Unsubscribe {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** Delivery is in-process: published means delivered to every subscriber's queue. */
  async flush(): Promise<void> {
    if (this.closed) throw new Error('the bus is closed');
  }

  /** In-process: up until closed. */
  get connected(): boolean {
    return !this.closed;
  }

  async publish(subject: string, data: unknown): Promise<void> {
    if (this.closed) return;
    const subs = this.subscribersOf(subject);
    if (subs.length === 0) return;
    // One copy for all its subscribers, as NATS decodes one value for them: handlers never change it
    // (the port's contract); the copy keeps the publisher's later changes out.
    this.deliver(subs, subject, copyOf(data));
  }

  async publishJson(subject: string, json: string): Promise<void> {
    if (this.closed) return;
    const subs = this.subscribersOf(subject);
    if (subs.length === 0) return;
    // Parsed from text: a value no publisher holds, as a copy is.
    this.deliver(subs, subject, JSON.parse(json));
  }

  private deliver(subs: Sub[], subject: string, copy: unknown): void {
    for (const sub of subs) {
      queueMicrotask(() => {
        try {
          const r = sub.handler(copy, subject);
          if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {});
        } catch {
          /* a subscriber's failure is its own */
        }
      });
    }
  }

  subscribe(subject: string, handler: Handler, options?: SubscribeOptions): Unsubscribe {
    const sub: Sub = { pattern: subject, handler, queue: options?.queue };
    this.subs.add(sub);
    this.routes.clear();
    return () => {
      this.subs.delete(sub);
      this.routes.clear();
    };
  }

  /**
   * One promise settled by whichever comes first, the server's answer or the deadline: no
   * `Promise.race` and no promise of its own for the deadline (a disconnect makes one request;
   * the race cost four promises more per request). A throw anywhere (no server, a payload that
   * does not copy, a server that throws instead of rejecting) rejects it, as before.
   */
  request(subject: string, data: unknown, options: { timeoutMs: number }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const [srv] = this.serversOf(subject);
      if (!srv || this.closed) throw new BusTimeoutError(subject, true);
      const answer = srv.handler(copyOf(data));
      const timer = setTimeout(() => reject(new BusTimeoutError(subject)), options.timeoutMs);
      Promise.resolve(answer).then(
        (reply) => {
          clearTimeout(timer);
          try {
            resolve(copyOf(reply));
          } catch (e) {
            reject(e);
          }
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  serve(subject: string, handler: Server, options?: SubscribeOptions): Unsubscribe {
    const srv: Srv = { pattern: subject, handler, queue: options?.queue };
    this.servers.add(srv);
    this.serverRoutes.clear();
    return () => {
      this.servers.delete(srv);
      this.serverRoutes.clear();
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subs.clear();
    this.routes.clear();
    this.servers.clear();
    this.serverRoutes.clear();
    for (const w of [...this.watchers]) w(false);
    this.watchers.clear();
  }

  /** `pick` over the subscriptions, the matching done once per subject until they change (every event is a publish). */
  private subscribersOf(subject: string): Sub[] {
    const route = cachedRoute(this.routes, this.subs, subject);
    return route.groups.length === 0 ? route.plain : this.pickFrom(route);
  }

  /** The servers of a request to `subject` (the first answers), the matching done once per subject until they change. */
  private serversOf(subject: string): Srv[] {
    return this.pickFrom(cachedRoute(this.serverRoutes, this.servers, subject));
  }

  /** All plain matches, plus one member (round robin) of each matching queue group. */
  private pickFrom<T>({ plain, groups }: Route<T>): T[] {
    const out = [...plain];
    for (const [q, members] of groups) {
      const n = this.rr.get(q) ?? 0;
      this.rr.set(q, n + 1);
      out.push(members[n % members.length]!);
    }
    // Request/reply: a plain server and a queue group both count; the first one wins.
    return out;
  }
}

/** `routeOf` over `all`, kept in `cache` (whose owner clears it whenever `all` changes). */
function cachedRoute<T extends { pattern: string; queue?: string }>(
  cache: Map<string, Route<T>>,
  all: Iterable<T>,
  subject: string,
): Route<T> {
  let route = cache.get(subject);
  if (!route) {
    route = routeOf([...all], subject);
    if (cache.size >= MAX_ROUTES) cache.clear();
    cache.set(subject, route);
  }
  return route;
}

/** The subscriptions of `all` that match `subject`: plain ones, and each queue group's members. */
function routeOf<T extends { pattern: string; queue?: string }>(all: T[], subject: string): Route<T> {
  const plain: T[] = [];
  const groups = new Map<string, T[]>();
  for (const s of all) {
    if (!subjectMatches(s.pattern, subject)) continue;
    if (s.queue === undefined) plain.push(s);
    else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
  }
  return { plain, groups: [...groups] };
}
