import type { Store } from '../store/store.js';
import { settleUnsuccessful } from './intent-settlement.js';
import type { Logger } from '../domain/logger.js';

/** Intents settled per pass; a pass with a full batch runs again at once. */
const BATCH = 100;

/**
 * Settles as FAILED the disconnect intents still PENDING after the horizon: the gateway never
 * confirmed and the daemon never reported the session's end, so the operator's disconnect is
 * recorded as not having happened (the session, if the daemon still reports it, stays online).
 * A kill that runs later still is then recorded by the daemon's report as the end it looks like.
 * Every replica runs one; the conditional settlement lets exactly one of them write each FAILED row.
 */
export class IntentHorizon {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: { store: Store; logger: Logger; horizonMs: number; now?: () => number }) {
    this.now = deps.now ?? Date.now;
  }

  /** Scans every `horizonMs / 4` (at least 1 s, at most 30 s). */
  start(): void {
    const every = Math.min(30_000, Math.max(1_000, Math.floor(this.deps.horizonMs / 4)));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass (tests call it directly); never throws: a failed pass is retried at the next tick. */
  sweep(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const { store, logger, horizonMs } = this.deps;
    try {
      for (;;) {
        const due = await store.intents.listPendingBefore(this.now() - horizonMs, BATCH);
        for (const intent of due) {
          const now = this.now();
          const id = await store.transaction((tx) =>
            settleUnsuccessful(tx, intent, 'FAILED', {
              now,
              detail: `not confirmed within the horizon (${horizonMs} ms)`,
            }),
          );
          if (id)
            logger.warn(
              { intentId: intent.id, sessionId: intent.sessionId, gatewayId: intent.gatewayId },
              'disconnect intent settled as FAILED at the horizon',
            );
        }
        if (due.length < BATCH) return;
      }
    } catch (e) {
      logger.error({ err: e }, 'settling disconnect intents at the horizon failed; retried at the next pass');
    }
  }
}
