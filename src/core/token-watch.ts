/**
 * The tokens behind this replica's open WebSockets and SSE streams, and their state as it is now.
 *
 * A socket is authenticated once, when it opens, but lives for hours; a token can be revoked (through
 * the API on any replica, or by `switchboard token revoke`, which writes the store directly) or
 * expire in between. So:
 * - every operation that starts on a socket asks `authorize` first (revoked, expired, scopes);
 * - every open stream registers a listener here, called once when its token stops being valid.
 *
 * How a revocation is learnt: a revocation (API or CLI) writes a token-revoked event that the outbox
 * relay publishes on the bus (`tokenRevoked`), which every replica hears; anything that writes the
 * store without an event (an operator's SQL), or whose event is held up, is found by re-reading the
 * watched tokens every `pollMs` (one query by primary key for all of them, only while some stream is
 * open). Expiry is judged against the clock on the same tick. A
 * stream thus ends within `pollMs` plus one query of its token's end, whoever ended it.
 *
 * On SQLite `authorize` reads the token through the store's read cache, which is exact (other
 * processes' commits are seen through `data_version`). On PostgreSQL nothing is cached by the store,
 * so a watched token is judged from the state kept here (refreshed by the bus and the poll) for
 * queries and subscriptions; a mutation asks for a `fresh` check, one read by primary key, so not
 * even a revocation this replica has not heard of yet lets one through.
 */
import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { Actor } from '../domain/actor.js';
import { DomainError, MESSAGES } from '../domain/errors.js';
import { tokenIsActive } from '../domain/token.js';
import type { TokenRepository } from '../store/store.js';
import type { Logger } from '../domain/logger.js';
import { readWire, tokenRevokedSchema } from './reports.js';

/** Why a token stopped being valid for its open streams. */
export type TokenEnd = 'revoked' | 'expired';

/** How often the watched tokens are re-read (and their expiry judged) by default. */
export const TOKEN_POLL_MS = 500;
/** Ids per re-read query. */
const IDS_PER_QUERY = 500;

interface Watched {
  /** Learnt from the store right after the first stream registered (null: never, or not yet). */
  expiresAt: number | null;
  listeners: Set<(end: TokenEnd) => void>;
}

export interface TokenWatchDeps {
  tokens: TokenRepository;
  bus: Bus;
  logger: Logger;
  now: () => number;
  /** True when the store's token reads are cached and exact (SQLite): `authorize` reads through it. */
  cachedReads: boolean;
  pollMs?: number;
}

export class TokenWatch {
  private readonly watched = new Map<string, Watched>();
  private unsubscribe: Unsubscribe | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private readonly pollMs: number;

  constructor(private readonly deps: TokenWatchDeps) {
    this.pollMs = deps.pollMs ?? TOKEN_POLL_MS;
  }

  /**
   * The actor as its token allows it now: UNAUTHENTICATED when the token was revoked, has expired or
   * no longer exists; otherwise the actor with the token's current scopes.
   */
  async authorize(actor: Actor, options: { fresh?: boolean } = {}): Promise<Actor> {
    if (actor.tokenId === null) return actor;
    const now = this.deps.now();
    const known = this.watched.get(actor.tokenId);
    if (known !== undefined) {
      if (known.expiresAt !== null && known.expiresAt <= now) {
        this.endSoon(actor.tokenId, 'expired');
        throw unauthenticated();
      }
      // PostgreSQL: the state kept here is at most one poll old, and the bus makes API revocations
      // immediate; a `fresh` check (a mutation: it changes things) reads the row all the same.
      if (!this.deps.cachedReads && options.fresh !== true) return actor;
    }
    const token = await this.deps.tokens.findById(actor.tokenId);
    if (token === null || !tokenIsActive(token, now)) {
      if (known !== undefined)
        this.endSoon(actor.tokenId, token !== null && token.revokedAt === null ? 'expired' : 'revoked');
      throw unauthenticated();
    }
    return { ...actor, scopes: [...token.scopes] };
  }

  /**
   * Calls `onEnd` once when the actor's token is revoked or expires. Returns the function that stops
   * watching (call it when the stream ends for any other reason).
   */
  watch(actor: Actor, onEnd: (end: TokenEnd) => void): () => void {
    const tokenId = actor.tokenId;
    if (tokenId === null) return () => {};
    let w = this.watched.get(tokenId);
    const first = w === undefined;
    if (w === undefined) {
      w = { expiresAt: null, listeners: new Set() };
      this.watched.set(tokenId, w);
    }
    const listener = (end: TokenEnd) => onEnd(end);
    w.listeners.add(listener);
    this.start();
    // Learn the token's expiry (and anything that happened since it was authenticated) at once.
    if (first) void this.check([tokenId]);
    return () => {
      const current = this.watched.get(tokenId);
      if (current === undefined) return;
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.watched.delete(tokenId);
      if (this.watched.size === 0) this.stop();
    };
  }

  /** Tokens with at least one open stream. */
  get size(): number {
    return this.watched.size;
  }

  /** `end`, after the refused operation's own answer has been sent on its socket. */
  private endSoon(tokenId: string, end: TokenEnd): void {
    const id = tokenId;
    setImmediate(() => this.end(id, end));
  }

  /** Ends every stream of `tokenId` (once: the entry goes, and with it any later call's effect). */
  private end(tokenId: string, end: TokenEnd): void {
    const w = this.watched.get(tokenId);
    if (w === undefined) return;
    this.watched.delete(tokenId);
    for (const listener of w.listeners) {
      try {
        listener(end);
      } catch (err) {
        this.deps.logger.warn({ err, tokenId }, 'ending a stream of a token that stopped being valid failed');
      }
    }
    if (this.watched.size === 0) this.stop();
  }

  private start(): void {
    if (this.unsubscribe === null) {
      this.unsubscribe = this.deps.bus.subscribe(subjects.tokenRevoked, (data) => {
        const revoked = readWire(tokenRevokedSchema, data);
        // Unreadable (another replica's wire version): the poll below still finds the revocation.
        if (revoked.ok) this.end(revoked.value.tokenId, 'revoked');
        else
          this.deps.logger.warn(
            { problem: revoked.problem, detail: revoked.detail },
            'token revocation message refused: it does not fit the wire contract',
          );
      });
    }
    if (this.timer === null) {
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One tick: expiry by the clock, revocation by re-reading the watched tokens. */
  private async poll(): Promise<void> {
    if (this.polling) return; // a slow store: the next tick starts after this one
    this.polling = true;
    try {
      const now = this.deps.now();
      for (const [id, w] of [...this.watched]) if (w.expiresAt !== null && w.expiresAt <= now) this.end(id, 'expired');
      await this.check([...this.watched.keys()]);
    } finally {
      this.polling = false;
    }
  }

  /** Re-reads `ids` and ends the streams of those revoked, expired or gone. */
  private async check(ids: string[]): Promise<void> {
    try {
      for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
        const chunk = ids.slice(i, i + IDS_PER_QUERY);
        const found = new Map((await this.deps.tokens.findByIds(chunk)).map((t) => [t.id, t]));
        const at = this.deps.now();
        for (const id of chunk) {
          const t = found.get(id);
          if (t === undefined || t.revokedAt !== null) this.end(id, 'revoked');
          else if (!tokenIsActive(t, at)) this.end(id, 'expired');
          else {
            const w = this.watched.get(id);
            if (w !== undefined) w.expiresAt = t.expiresAt;
          }
        }
      }
    } catch (err) {
      // The store is down: streams stay as they are until it answers (new operations are refused on their own).
      this.deps.logger.warn({ err }, 'could not re-read the tokens of open streams');
    }
  }
}

function unauthenticated(): DomainError {
  return new DomainError('UNAUTHENTICATED', MESSAGES.unauthenticated);
}
