import type { GatewayReport } from '../reports.js';

/**
 * Gateways whose reports are applied at the same time, at most. Each holds a database connection
 * while it applies; unbounded, a fleet's reports (a hundred gateways' snapshots at once) took every
 * connection of the pool, and API requests queued behind them until they failed as
 * STORE_UNAVAILABLE. The pool has 10 connections: this leaves most of them to the API.
 */
export const DEFAULT_GATEWAYS_APPLYING = 3;

/**
 * Reports of one gateway, applied strictly in order. Reports that arrive while the gateway's previous
 * work runs (or waits for its turn) wait together in one batch, handed to `apply` in order when their
 * turn comes (so a run of `connected` reports in a reconnect storm can share one transaction, which
 * profiling showed to be most of the cost). Gateways do not wait for each other's order, only for a
 * free slot: at most `concurrency` gateways apply at once.
 */
export class ReportQueue {
  private readonly queues = new Map<string, Promise<void>>();
  /** Per gateway: the reports that arrived since its current work started, applied next as one batch. */
  private readonly waiting = new Map<string, { reports: GatewayReport[]; done: Promise<void> }>();
  private applying = 0;
  /** Set by `abandon`: batches that have not started are dropped, not applied. */
  private abandoned = false;
  private dropped = 0;
  /** Gateways waiting for a slot, first come first served. */
  private readonly turns: (() => void)[] = [];

  constructor(
    private readonly apply: (reports: GatewayReport[]) => Promise<void>,
    private readonly concurrency = DEFAULT_GATEWAYS_APPLYING,
  ) {}

  /** Resolves once `report` (and the batch it joined) has been applied. */
  enqueue(report: GatewayReport): Promise<void> {
    const waiting = this.waiting.get(report.gatewayId);
    if (waiting) {
      waiting.reports.push(report);
      return waiting.done;
    }
    const batch: { reports: GatewayReport[]; done: Promise<void> } = { reports: [report], done: Promise.resolve() };
    this.waiting.set(report.gatewayId, batch);
    const prev = this.queues.get(report.gatewayId) ?? Promise.resolve();
    const run = async () => {
      await this.slot();
      try {
        // From here on, new reports of this gateway start the next batch.
        if (this.waiting.get(report.gatewayId) === batch) this.waiting.delete(report.gatewayId);
        if (this.abandoned) {
          this.dropped += batch.reports.length;
          return;
        }
        await this.apply(batch.reports);
      } finally {
        this.release();
      }
    };
    // After the previous batch however it ended: one failed batch must not fail every later one.
    const next = prev.then(run, run);
    batch.done = next;
    this.queues.set(report.gatewayId, next);
    const forget = () => {
      if (this.queues.get(report.gatewayId) === next) this.queues.delete(report.gatewayId);
    };
    next.then(forget, forget);
    return next;
  }

  /** Resolves when every report enqueued so far has been applied. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }

  /**
   * Shutdown under a backlog: the batches applying now finish, the ones still waiting are dropped
   * (their enqueue promises resolve without applying them). Returns how many reports were dropped once
   * the queue is idle. Nothing recorded is lost: a dropped report is what a `kill -9` at that moment
   * would lose, and the gateway's next snapshot (to this replica after a restart, or to any other)
   * brings it, a kill's end included (docs/guarantees.md).
   */
  async abandon(): Promise<number> {
    this.abandoned = true;
    await this.idle();
    return this.dropped;
  }

  private slot(): Promise<void> {
    if (this.applying < this.concurrency) {
      this.applying++;
      return Promise.resolve();
    }
    // The slot passes straight from the releasing gateway to this one (`applying` stays as it is).
    return new Promise((resolve) => this.turns.push(resolve));
  }

  private release(): void {
    const next = this.turns.shift();
    if (next) next();
    else this.applying--;
  }
}
