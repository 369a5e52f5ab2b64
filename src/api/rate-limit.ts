/**
 * A token bucket per key (an API token id, a client IP): each key may make `burst` requests at once
 * and `ratePerSecond` on average. Buckets live in this process's memory, so with several replicas
 * behind a load balancer each replica keeps its own and the effective limit is per replica.
 */
import type { RateLimit } from '../domain/rate-limit.js';

export type { RateLimit };

/** Either the request may go on, or it must wait this many whole seconds (`Retry-After`). */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const ALLOWED: RateDecision = { ok: true };

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(
    private readonly limit: RateLimit,
    options: { now?: () => number; maxKeys?: number } = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  get enabled(): boolean {
    return this.limit.ratePerSecond > 0;
  }

  /** Keys currently remembered (a bucket refilled to `burst` is as good as none and may be dropped). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one request from `key`'s bucket. */
  take(key: string): RateDecision {
    const { ratePerSecond, burst } = this.limit;
    if (ratePerSecond <= 0) return ALLOWED;
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      bucket = { tokens: burst, updatedAt: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSecond);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)) };
  }

  /**
   * Keeps memory bounded whatever the number of keys (a scan from many addresses): first forgets the
   * buckets that have refilled, then, if that was not enough, the least recently created tenth.
   */
  private evict(now: number): void {
    const { ratePerSecond, burst } = this.limit;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.updatedAt) / 1000) * ratePerSecond >= burst) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxKeys) return;
    let drop = Math.ceil(this.maxKeys / 10);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
