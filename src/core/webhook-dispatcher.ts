import { randomId } from '../domain/ids.js';
import type { WebhookDelivery } from '../domain/webhook.js';
import type { DeliveryUpdate, Store } from '../store/store.js';
import type { Logger } from './logger.js';
import { signatureHeader } from './webhook-outbox.js';

export interface DispatcherOptions {
  /** How often the outbox is scanned for due deliveries (ms). */
  pollMs: number;
  /** First retry delay (ms); doubles per attempt up to `backoffCapMs`. */
  backoffMs: number;
  backoffCapMs: number;
  /** A delivery older than this is given up (status FAILED). */
  giveUpMs: number;
  /** Per POST: a receiver slower than this counts as failed (ms). */
  timeoutMs: number;
  /** Deliveries POSTed at the same time by this process. */
  concurrency: number;
}

export const DEFAULT_DISPATCHER_OPTIONS: DispatcherOptions = {
  pollMs: 1000, backoffMs: 1000, backoffCapMs: 5 * 60_000, giveUpMs: 24 * 3600_000, timeoutMs: 10_000, concurrency: 8,
};

/** Response bodies are not kept; an error text is cut to this many characters. */
const MAX_ERROR = 300;

/** The delay before attempt `n + 1`, after `n` failed attempts. */
export function backoffDelay(failedAttempts: number, o: Pick<DispatcherOptions, 'backoffMs' | 'backoffCapMs'>): number {
  return Math.min(o.backoffCapMs, o.backoffMs * 2 ** Math.max(0, failedAttempts - 1));
}

/**
 * Delivers the webhook outbox: one per process, off the request path. Each round leases due rows
 * (the store makes replicas split them), POSTs each with a deadline, records the attempt and either
 * marks the delivery DELIVERED or schedules the next try with exponential backoff, until it is too
 * old. A receiver that hangs holds one of `concurrency` slots for at most `timeoutMs`, never the API.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private readonly inflight = new Set<AbortController>();
  private readonly o: DispatcherOptions;
  private readonly now: () => number;

  constructor(private readonly deps: { store: Store; logger: Logger; options?: Partial<DispatcherOptions>; now?: () => number }) {
    this.o = { ...DEFAULT_DISPATCHER_OPTIONS, ...deps.options };
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and aborts POSTs in flight (their deliveries are retried later, by anyone). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.inflight) c.abort();
    await this.running?.catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().catch((e: unknown) => this.deps.logger.error({ err: e }, 'webhook dispatch round failed'));
      void this.running.then(() => this.schedule(this.o.pollMs));
    }, ms);
    this.timer.unref();
  }

  /** One scan: claims up to `concurrency` due deliveries and settles them all. */
  async round(): Promise<void> {
    const now = this.now();
    const leaseUntil = now + this.o.timeoutMs + 5_000;
    const due = await this.deps.store.webhooks.claimDue(now, leaseUntil, this.o.concurrency);
    await Promise.all(due.map((d) => this.deliver(d)));
  }

  private async deliver(d: WebhookDelivery): Promise<void> {
    const { store, logger } = this.deps;
    const hook = await store.webhooks.findById(d.webhookId);
    const attempt = d.attempts + 1;
    const started = performance.now();
    const at = this.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    if (!hook || hook.deletedAt !== null) {
      error = 'webhook deleted';
    } else {
      const controller = new AbortController();
      this.inflight.add(controller);
      const timer = setTimeout(() => controller.abort(new Error(`no response within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      try {
        const t = Math.floor(at / 1000);
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Switchboard-Webhooks/1',
            'switchboard-event': d.eventType,
            'switchboard-delivery': d.id,
            'switchboard-signature': signatureHeader(hook.secret, d.payload, t),
          },
          body: d.payload,
          redirect: 'manual',
          signal: controller.signal,
        });
        statusCode = res.status;
        await res.body?.cancel().catch(() => {});
        if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
      } catch (e) {
        const reason = controller.signal.aborted ? controller.signal.reason : e;
        error = (reason instanceof Error ? (reason.cause instanceof Error ? `${reason.message}: ${reason.cause.message}` : reason.message) : String(reason)).slice(0, MAX_ERROR);
      } finally {
        clearTimeout(timer);
        this.inflight.delete(controller);
      }
    }
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const update = this.outcome(d, attempt, at, statusCode, error, hook === null || hook.deletedAt !== null);
    await store.webhooks.recordAttempt({ id: `wha_${randomId(16)}`, deliveryId: d.id, attempt, at, statusCode, error, durationMs }, update);
    // The URL may carry a credential in its query; log only the webhook id.
    if (error !== null) logger.warn({ webhookId: d.webhookId, deliveryId: d.id, attempt, statusCode, error, status: update.status }, 'webhook delivery failed');
  }

  private outcome(d: WebhookDelivery, attempt: number, at: number, statusCode: number | null, error: string | null, gone: boolean): DeliveryUpdate {
    const base = { attempts: attempt, lastStatusCode: statusCode, lastError: error };
    if (error === null) return { ...base, status: 'DELIVERED', nextAttemptAt: at, deliveredAt: at };
    const next = this.now() + backoffDelay(attempt, this.o);
    if (gone || next - d.createdAt > this.o.giveUpMs) return { ...base, status: 'FAILED', nextAttemptAt: at, deliveredAt: null };
    return { ...base, status: 'PENDING', nextAttemptAt: next, deliveredAt: null };
  }
}
