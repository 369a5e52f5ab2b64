import { BusTimeoutError, subjectMatches, type Bus, type SubscribeOptions, type Unsubscribe } from '../bus.js';

type Handler = (data: unknown, subject: string) => void | Promise<void>;
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
 * in publish order per subscriber; values are structured-cloned so no side shares mutable objects,
 * exactly as if they had crossed a wire.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private subs = new Set<Sub>();
  private servers = new Set<Srv>();
  private rr = new Map<string, number>();
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
    const targets = this.pick([...this.subs], subject);
    for (const sub of targets) {
      const copy = structuredClone(data);
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
    return () => this.subs.delete(sub);
  }

  async request(subject: string, data: unknown, options: { timeoutMs: number }): Promise<unknown> {
    const [srv] = this.pick([...this.servers], subject);
    if (!srv || this.closed) throw new BusTimeoutError(subject, true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusTimeoutError(subject)), options.timeoutMs);
    });
    try {
      const reply = await Promise.race([srv.handler(structuredClone(data)), timeout]);
      return structuredClone(reply);
    } finally {
      clearTimeout(timer);
    }
  }

  serve(subject: string, handler: Server, options?: SubscribeOptions): Unsubscribe {
    const srv: Srv = { pattern: subject, handler, queue: options?.queue };
    this.servers.add(srv);
    return () => this.servers.delete(srv);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subs.clear();
    this.servers.clear();
    for (const w of [...this.watchers]) w(false);
    this.watchers.clear();
  }

  /** All plain subscribers that match, plus one member (round robin) of each matching queue group. */
  private pick<T extends { pattern: string; queue?: string }>(all: T[], subject: string): T[] {
    const matching = all.filter((s) => subjectMatches(s.pattern, subject));
    const out: T[] = [];
    const groups = new Map<string, T[]>();
    for (const s of matching) {
      if (s.queue === undefined) out.push(s);
      else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    }
    for (const [q, members] of groups) {
      const n = this.rr.get(q) ?? 0;
      this.rr.set(q, n + 1);
      out.push(members[n % members.length]!);
    }
    // Request/reply: a plain server and a queue group both count; the first one wins.
    return out;
  }
}
