import { newId } from '../domain/ids.js';
import type { WebhookDelivery } from '../domain/webhook.js';
import type { DeliveryUpdate, Store } from '../store/store.js';
import type { Logger } from '../domain/logger.js';
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
  /** Deliveries POSTed at the same time to one webhook endpoint (its lane) by this process. */
  concurrency: number;
}

export const DEFAULT_DISPATCHER_OPTIONS: DispatcherOptions = {
  pollMs: 1000,
  backoffMs: 1000,
  backoffCapMs: 5 * 60_000,
  giveUpMs: 24 * 3600_000,
  timeoutMs: 10_000,
  concurrency: 4,
};

/** Response bodies are not kept; an error text is cut to this many characters. */
const MAX_ERROR = 300;
/** Webhooks looked at per scan; more than any deployment has endpoints. */
const MAX_LANES = 1_000;

/** The delay before attempt `n + 1`, after `n` failed attempts. */
/**
 * An error's text without the webhook's URL, which may carry a credential (in its query, or the
 * user:password of a webhook created before such URLs were refused): fetch names the URL in some of
 * its errors, and the text is logged and shown to every admin in the delivery's attempts.
 */
export function withoutUrl(text: string, url: string): string {
  return text.replaceAll(url, '<the webhook URL>');
}

export function backoffDelay(failedAttempts: number, o: Pick<DispatcherOptions, 'backoffMs' | 'backoffCapMs'>): number {
  return Math.min(o.backoffCapMs, o.backoffMs * 2 ** Math.max(0, failedAttempts - 1));
}

/** One webhook's deliveries in this process: how many are in flight, and whether a claim is running. */
interface Lane {
  inflight: number;
  filling: boolean;
  /** A slot freed while a claim ran: claim again when it ends. */
  again: boolean;
}

/**
 * Delivers the webhook outbox: one per process, off the request path. Every webhook endpoint has its
 * own lane: at most `concurrency` of its deliveries are in flight here, claimed for that webhook alone
 * (the store makes replicas split them), so an endpoint that hangs or crawls fills only its own lane
 * and never delays another endpoint's deliveries. Each POST has a deadline (`timeoutMs`); a failed one
 * is retried with exponential backoff until it is too old. A lane takes its next due delivery as soon
 * as a slot frees, and each scan (every `pollMs`) tops up every lane with due deliveries. The work
 * a hung endpoint costs is bounded: `concurrency` open requests per process, each for `timeoutMs`,
 * then backoff.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private readonly inflight = new Set<AbortController>();
  private readonly lanes = new Map<string, Lane>();
  /** Deliveries started and not finished (awaited by `stop`). */
  private readonly work = new Set<Promise<void>>();
  private readonly o: DispatcherOptions;
  private readonly now: () => number;

  constructor(
    private readonly deps: { store: Store; logger: Logger; options?: Partial<DispatcherOptions>; now?: () => number },
  ) {
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
    await Promise.all([...this.work]);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().catch((e: unknown) =>
        this.deps.logger.error({ err: e }, 'webhook dispatch round failed'),
      );
      void this.running.then(() => this.schedule(this.o.pollMs));
    }, ms);
    this.timer.unref();
  }

  /** One scan: every webhook with due deliveries gets its lane topped up. Does not wait for the POSTs. */
  async round(): Promise<void> {
    const ids = await this.deps.store.webhooks.dueWebhookIds(this.now(), MAX_LANES);
    for (const id of ids) await this.fill(id);
  }

  /** Claims as many of the webhook's due deliveries as its lane has free slots, and starts them. */
  private async fill(webhookId: string): Promise<void> {
    let lane = this.lanes.get(webhookId);
    if (!lane) {
      lane = { inflight: 0, filling: false, again: false };
      this.lanes.set(webhookId, lane);
    }
    if (lane.filling) {
      lane.again = true;
      return;
    }
    lane.filling = true;
    try {
      do {
        lane.again = false;
        const free = this.o.concurrency - lane.inflight;
        if (free <= 0 || this.stopped) break;
        const now = this.now();
        const due = await this.deps.store.webhooks.claimDue(now, now + this.o.timeoutMs + 5_000, free, webhookId);
        for (const d of due) this.begin(webhookId, lane, d);
      } while (lane.again);
    } finally {
      lane.filling = false;
      this.forget(webhookId, lane);
    }
  }

  private begin(webhookId: string, lane: Lane, d: WebhookDelivery): void {
    lane.inflight += 1;
    const run: Promise<void> = this.deliver(d)
      .catch((e: unknown) =>
        this.deps.logger.error({ err: e, webhookId, deliveryId: d.id }, 'webhook delivery could not be recorded'),
      )
      .finally(() => {
        lane.inflight -= 1;
        this.work.delete(run);
        this.forget(webhookId, lane);
        // A slot is free: the lane's next due delivery goes now, not at the next scan.
        if (!this.stopped)
          this.fill(webhookId).catch((e: unknown) =>
            this.deps.logger.error({ err: e, webhookId }, 'webhook lane refill failed'),
          );
      });
    this.work.add(run);
  }

  /** An idle lane is dropped, so deleted webhooks leave nothing behind. */
  private forget(webhookId: string, lane: Lane): void {
    if (lane.inflight === 0 && !lane.filling && this.lanes.get(webhookId) === lane) this.lanes.delete(webhookId);
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
      const timer = setTimeout(
        () => controller.abort(new Error(`no response within ${this.o.timeoutMs} ms`)),
        this.o.timeoutMs,
      );
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
        error = withoutUrl(
          reason instanceof Error
            ? reason.cause instanceof Error
              ? `${reason.message}: ${reason.cause.message}`
              : reason.message
            : String(reason),
          hook.url,
        ).slice(0, MAX_ERROR);
      } finally {
        clearTimeout(timer);
        this.inflight.delete(controller);
      }
    }
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const update = this.outcome(d, attempt, at, statusCode, error, hook === null || hook.deletedAt !== null);
    await store.webhooks.recordAttempt(
      { id: newId('webhookAttempt'), deliveryId: d.id, attempt, at, statusCode, error, durationMs },
      update,
    );
    // The URL may carry a credential in its query; log only the webhook id.
    if (error !== null)
      logger.warn(
        { webhookId: d.webhookId, deliveryId: d.id, attempt, statusCode, error, status: update.status },
        'webhook delivery failed',
      );
  }

  private outcome(
    d: WebhookDelivery,
    attempt: number,
    at: number,
    statusCode: number | null,
    error: string | null,
    gone: boolean,
  ): DeliveryUpdate {
    const base = { attempts: attempt, lastStatusCode: statusCode, lastError: error };
    if (error === null) return { ...base, status: 'DELIVERED', nextAttemptAt: at, deliveredAt: at };
    const next = this.now() + backoffDelay(attempt, this.o);
    if (gone || next - d.createdAt > this.o.giveUpMs)
      return { ...base, status: 'FAILED', nextAttemptAt: at, deliveredAt: null };
    return { ...base, status: 'PENDING', nextAttemptAt: next, deliveredAt: null };
  }
}
