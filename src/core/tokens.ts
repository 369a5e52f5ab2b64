import crypto, { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../domain/actor.js';
import { DomainError, MESSAGES } from '../domain/errors.js';
import { newTokenId, newTokenSecret, TOKEN_SECRET_PATTERN } from '../domain/ids.js';
import type { Scope } from '../domain/scopes.js';
import { tokenIsActive, type ApiToken } from '../domain/token.js';
import type { TokenRepository } from '../store/store.js';
import type { RequestMeta } from './api-types.js';

/**
 * Token string: `sbt_<8 chars>_<40 chars>` (domain/ids.ts). The first 12 characters are the display
 * prefix (stored, safe to show); the store keeps only a SHA-256 of the whole string.
 */
const PREFIX_LENGTH = 12;
/** last_used_at is written at most this often per token, to keep reads free of writes. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * SHA-256 of a token string: one-shot `crypto.hash` where Node has it (20.12 on; no hash object per
 * request), a hash object before that (the engines field allows 20.10). Same bytes either way.
 */
const sha256: (text: string) => Buffer =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'buffer')
    : (text) => createHash('sha256').update(text).digest();

/** Stored digests (hex) decoded once: the tokens' hashes, never a secret. Bounded; cleared when full. */
const DIGESTS = new Map<string, Buffer>();
const MAX_DIGESTS = 1000;
function storedDigest(hex: string): Buffer {
  let bytes = DIGESTS.get(hex);
  if (bytes === undefined) {
    if (DIGESTS.size >= MAX_DIGESTS) DIGESTS.clear();
    bytes = Buffer.from(hex, 'hex');
    DIGESTS.set(hex, bytes);
  }
  return bytes;
}

export function hashToken(secret: string): string {
  return sha256(secret).toString('hex');
}

export function mintToken(args: { name: string; scopes: Scope[]; expiresAt: number | null; now: number }): {
  token: ApiToken;
  secret: string;
} {
  const secret = newTokenSecret();
  const token: ApiToken = {
    id: newTokenId(),
    name: args.name,
    prefix: secret.slice(0, PREFIX_LENGTH),
    secretHash: hashToken(secret),
    scopes: [...new Set(args.scopes)],
    createdAt: args.now,
    expiresAt: args.expiresAt,
    revokedAt: null,
    lastUsedAt: null,
  };
  return { token, secret };
}

/** Bearer → Actor. Every failure is the same UNAUTHENTICATED, so a caller learns nothing from it. */
export async function authenticate(
  tokens: TokenRepository,
  bearer: string | null,
  meta: RequestMeta,
  now: number,
): Promise<Actor> {
  const fail = () => new DomainError('UNAUTHENTICATED', MESSAGES.unauthenticated);
  if (!bearer || !TOKEN_SECRET_PATTERN.test(bearer)) throw fail();
  // The digest's bytes at once (one-shot, no hash object, no hex text to decode again).
  const presented = sha256(bearer);
  const candidates = await tokens.findByPrefix(bearer.slice(0, PREFIX_LENGTH));
  const match = candidates.find((t) => timingSafeEqual(storedDigest(t.secretHash), presented));
  if (!match || !tokenIsActive(match, now)) throw fail();
  if (match.lastUsedAt === null || now - match.lastUsedAt > TOUCH_INTERVAL_MS) {
    // Best effort: a failed touch must not fail the request.
    tokens.touch(match.id, now).catch(() => {});
  }
  // A copy: the token row may be a cached, shared object (the SQLite read cache).
  const actor: Actor = {
    tokenId: match.id,
    name: match.name,
    scopes: [...match.scopes],
    ip: meta.ip,
    userAgent: meta.userAgent,
  };
  if (meta.requestId !== undefined) actor.requestId = meta.requestId;
  return actor;
}
