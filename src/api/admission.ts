/**
 * What every transport asks before it lets a request, an operation or a stream in: the two rate
 * limits (per client IP, counted before the token is even looked at, so that failed authentications
 * cost too; per token, after) and the caps on long-lived connections. One instance per API server,
 * shared by HTTP, WebSocket and SSE, so a client cannot double its allowance by switching transport.
 */
import { DEFAULT_CAPS, type ConnectionCaps } from '../domain/connection-caps.js';
import { RateLimiter, type RateDecision, type RateLimit } from './rate-limit.js';

export { DEFAULT_CAPS, type ConnectionCaps };

export class Admission {
  private readonly perIp: RateLimiter;
  private readonly perToken: RateLimiter;
  private readonly streams = new Map<string, number>();

  constructor(
    limits: { perIp: RateLimit; perToken: RateLimit },
    readonly caps: Readonly<ConnectionCaps> = DEFAULT_CAPS,
  ) {
    this.perIp = new RateLimiter(limits.perIp);
    this.perToken = new RateLimiter(limits.perToken);
  }

  /** One request (or connection attempt, or operation) from this address, whoever it claims to be. */
  byIp(ip: string | undefined): RateDecision {
    return this.perIp.take(ip ?? 'unknown');
  }

  /** One request (or operation) of this token; the system actor (no token) is not limited. */
  byToken(tokenId: string | null): RateDecision {
    return tokenId === null ? { ok: true } : this.perToken.take(tokenId);
  }

  /**
   * Opens one stream (a WebSocket or an SSE request) of `tokenId`: the function that closes it
   * (idempotent), or null when the token already has `streamsPerToken` open.
   */
  openStream(tokenId: string | null): (() => void) | null {
    if (tokenId === null) return () => {};
    const open = this.streams.get(tokenId) ?? 0;
    if (open >= this.caps.streamsPerToken) return null;
    this.streams.set(tokenId, open + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.streams.get(tokenId) ?? 1) - 1;
      if (left <= 0) this.streams.delete(tokenId);
      else this.streams.set(tokenId, left);
    };
  }
}
