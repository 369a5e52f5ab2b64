import type { Bus } from '../bus/bus.js';
import type { OutboxEvent, OutboxTaker, Store } from '../store/store.js';
import { subjectOf } from './event-outbox.js';
import type { Logger } from '../domain/logger.js';
import { versionedJson } from './reports.js';
import { errorText } from '../domain/errors.js';

export interface RelayOptions {
  /** How often the outbox is scanned when idle (ms). */
  pollMs: number;
  /** A claimed row is this relay's for this long; after it, any relay may publish it (ms). */
  leaseMs: number;
  /** Most rows claimed and published in one round. */
  batch: number;
  /** How long the bus has to confirm a round's messages before they count as not published (ms). */
  flushTimeoutMs: number;
  /** A store that has not answered a round's claim by then counts as unavailable (ms). */
  storeTimeoutMs: number;
  /** Published rows are deleted this long after they were written (ms). */
  retentionMs: number;
  /** Unpublished rows are given up (deleted, logged) this long after they were written (ms). */
  giveUpMs: number;
  /** How often old rows are pruned (ms). */
  pruneEveryMs: number;
}

/** Most events held in memory as handed over; past it, rows are appended unleased and claimed. */
const MAX_HANDED = 10_000;

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  pollMs: 100,
  leaseMs: 10_000,
  batch: 500,
  flushTimeoutMs: 5_000,
  storeTimeoutMs: 5_000,
  retentionMs: 3_600_000,
  giveUpMs: 24 * 3_600_000,
  pruneEveryMs: 60_000,
};

/** What the relay last learnt of the store: reachable, or not (with a short reason). */
export type StoreHealth = { ok: true } | { ok: false; detail: string };

/**
 * Publishes the event outbox to the bus: one relay per replica, each round claiming unpublished
 * rows with a lease, publishing them in the order they were written, waiting for the bus to confirm
 * (`flush`), then marking them published.
 *
 * Why a claim with a lease, not a cursor per replica: every replica's subscribers hear every event
 * from the bus, so each event needs publishing once, by anyone. The lease makes that so in the
 * normal case (concurrent relays split the rows, `FOR UPDATE SKIP LOCKED`), and a relay that dies or
 * stalls between claiming and marking only delays its rows until the lease ends, when another relay
 * publishes them again. So publishing is at least once; a row is never lost while any replica runs.
 * The duplicates that this allows (a relay stalled past its lease that then publishes anyway, a
 * crash after the bus confirmed and before the mark) are dropped by event id where events reach
 * subscribers (SessionEventHub). A relay whose bus is down claims nothing: the rows wait for a
 * replica that can publish them, rather than sitting in a disconnected client's buffer.
 *
 * Events this process commits are not claimed: while the relay runs (and its bus is connected) the
 * store writes them already leased to it and hands them over once their transaction committed
 * (`Store.handOffOutbox`), so each event is written twice (appended, marked), not three times. They
 * are published with the next round, in the order committed; a relay that dies holding them leaves
 * them to the lease, as a claimed row. A round claims from the outbox when nothing was handed over,
 * or every `pollMs` while events keep being handed over (other replicas' rows, expired leases).
 *
 * Rows are pruned (by every relay, on its own timer): published ones after `retentionMs`,
 * unpublished ones after `giveUpMs` (no replica could publish them for that long; logged).
 */
export class EventRelay implements OutboxTaker {
  private readonly o: RelayOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private lastPrune = 0;
  private storeOk = true;
  /** Events handed over by the store (leased to this relay), not yet in a round. */
  private handed: OutboxEvent[] = [];
  private lastClaim = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: {
      store: Store;
      bus: Bus;
      logger: Logger;
      options?: Partial<RelayOptions>;
      now?: () => number;
      onStoreHealth?: (health: StoreHealth) => void;
    },
  ) {
    this.o = { ...DEFAULT_RELAY_OPTIONS, ...deps.options };
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.lastPrune = this.now();
    this.deps.store.handOffOutbox(this);
    this.schedule(0);
  }

  /**
   * Stops after the round in flight, and takes no more events from the store; rows it leaves
   * unpublished (`drain` publishes those handed over) are published by another relay (or this one,
   * started again) after their lease.
   */
  async stop(): Promise<void> {
    if (!this.stopped) this.deps.store.handOffOutbox(null);
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /**
   * Publishes rounds until nothing claimable is left (tests; shutdown of a lone replica). A round
   * this relay's timer started holds the rows it claimed until it publishes them, so drain waits
   * for it too: everything in the outbox when drain was called is published when it returns.
   */
  async drain(): Promise<void> {
    do await this.running?.catch(() => {});
    while ((await this.round()) > 0);
    await this.running?.catch(() => {});
  }

  /** OutboxTaker: rows are leased to this relay while it runs, its bus is up and it holds few. */
  leaseUntil(): number | null {
    if (this.stopped || !this.deps.bus.connected || this.handed.length >= MAX_HANDED) return null;
    return this.now() + this.o.leaseMs;
  }

  /** OutboxTaker: published with the next round (also after `stop`, by `drain`). */
  take(events: OutboxEvent[]): void {
    this.handed.push(...events);
  }

  /**
   * One round: takes up to `batch` rows handed over and claims up to `batch` (when due), publishes
   * them, marks them published. Returns how many were published. Throws when the store or the bus
   * failed (the rows stay leased until their lease ends).
   */
  async round(): Promise<number> {
    const { store, bus } = this.deps;
    if (!bus.connected) {
      // Not kept in memory while the bus is down: their lease ends, and a relay that can publishes them.
      this.handed = [];
      return 0;
    }
    const now = this.now();
    const handed = this.handed.splice(0, this.o.batch);
    let rows = handed;
    if (handed.length === 0 || now - this.lastClaim >= this.o.pollMs) {
      this.lastClaim = now;
      const claimed = await this.watchStore(store.outbox.claim(now, now + this.o.leaseMs, this.o.batch));
      rows = claimed.length === 0 ? handed : [...claimed, ...handed];
    }
    if (rows.length === 0) return 0;
    // The rows' JSON goes out as text (a bus that delivers in-process parses it only for a listener).
    for (const row of rows) await bus.publishJson(subjectOf(row.type), versionedJson(row.payload));
    await bus.flush(this.o.flushTimeoutMs);
    await this.watchStore(
      store.outbox.markPublished(
        rows.map((r) => r.id),
        this.now(),
      ),
    );
    return rows.length;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      let again = false;
      this.running = (async () => {
        try {
          again = (await this.round()) >= this.o.batch;
          await this.pruneWhenDue();
        } catch (e) {
          this.deps.logger.warn({ err: e }, 'event relay round failed; its events are published later');
        }
      })();
      // A full batch: more are waiting, go on at once.
      void this.running.then(() => this.schedule(again ? 0 : this.o.pollMs));
    }, ms);
    this.timer.unref();
  }

  private async pruneWhenDue(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < this.o.pruneEveryMs) return;
    this.lastPrune = now;
    const r = await this.watchStore(
      this.deps.store.outbox.prune({
        publishedBefore: now - this.o.retentionMs,
        unpublishedBefore: now - this.o.giveUpMs,
        limit: 10_000,
      }),
    );
    if (r.unpublished > 0)
      this.deps.logger.warn(
        { events: r.unpublished, giveUpMs: this.o.giveUpMs },
        'events no replica could publish were given up',
      );
    if (r.published > 0) this.deps.logger.debug({ events: r.published }, 'published events pruned from the outbox');
  }

  /**
   * `work`, telling whoever watches the store's health: unavailable when it fails or has not answered
   * within `storeTimeoutMs` (a partition can hang a query rather than fail it), available again when
   * a statement succeeds.
   */
  private async watchStore<T>(work: Promise<T>): Promise<T> {
    const timer = setTimeout(
      () => this.storeHealth({ ok: false, detail: `the database did not answer within ${this.o.storeTimeoutMs} ms` }),
      this.o.storeTimeoutMs,
    );
    try {
      const value = await work;
      this.storeHealth({ ok: true });
      return value;
    } catch (e) {
      this.storeHealth({ ok: false, detail: errorText(e) });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private storeHealth(health: StoreHealth): void {
    if (health.ok === this.storeOk) return;
    this.storeOk = health.ok;
    if (health.ok) this.deps.logger.info({}, 'the database answers again; live events resume');
    else
      this.deps.logger.error(
        { detail: health.detail },
        'the database is unavailable; live event streams on this replica end',
      );
    this.deps.onStoreHealth?.(health);
  }
}
