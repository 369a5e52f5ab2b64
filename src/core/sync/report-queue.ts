import type { GatewayReport } from '../reports.js';

/**
 * Reports of one gateway, applied strictly in order. Reports that arrive while the gateway's previous
 * work runs wait together in one batch, handed to `apply` in order when their turn comes (so a run of
 * `connected` reports in a reconnect storm can share one transaction, which profiling showed to be
 * most of the cost). Gateways do not wait for each other.
 */
export class ReportQueue {
  private readonly queues = new Map<string, Promise<void>>();
  /** Per gateway: the reports that arrived since its current work started, applied next as one batch. */
  private readonly waiting = new Map<string, { reports: GatewayReport[]; done: Promise<void> }>();

  constructor(private readonly apply: (reports: GatewayReport[]) => Promise<void>) {}

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
    const next = prev.then(() => {
      // From here on, new reports of this gateway start the next batch.
      if (this.waiting.get(report.gatewayId) === batch) this.waiting.delete(report.gatewayId);
      return this.apply(batch.reports);
    });
    batch.done = next;
    this.queues.set(report.gatewayId, next);
    void next.then(() => {
      if (this.queues.get(report.gatewayId) === next) this.queues.delete(report.gatewayId);
    });
    return next;
  }

  /** Resolves when every report enqueued so far has been applied. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }
}
