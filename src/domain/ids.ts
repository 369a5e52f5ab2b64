import { randomBytes, createHash } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Random bytes drawn 4 KiB at a time: one CSPRNG call per id was 7% of the CPU of a 10k-session
 * reconnect storm (the same pooling Node does for `randomUUID`). Each byte is used once.
 */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomByte(): number {
  if (poolOffset >= pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** n random characters of [a-z0-9]; rejection sampling keeps the distribution uniform. */
export function randomId(n: number): string {
  let out = '';
  while (out.length < n) {
    const byte = randomByte();
    if (byte < 252) out += ALPHABET[byte % 36];
  }
  return out;
}

/** Public session id: `sess_` + 12 of [a-z0-9] (the seed's shape). Opaque, never reused. */
export const SESSION_ID_PATTERN = /^sess_[a-z0-9]{12}$/;
export function newSessionId(): string {
  return `sess_${randomId(12)}`;
}
export function isSessionId(value: string): boolean {
  return SESSION_ID_PATTERN.test(value);
}

export function newTokenId(): string {
  return `tok_${randomId(12)}`;
}

export function newAuditEventId(): string {
  return `aud_${randomId(16)}`;
}

/** Gateway ids are operator-chosen slugs (or `gw_…`): lower-case letters, digits, `-` and `_`. */
export const GATEWAY_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A user's id is derived from the VPN account name, so it is stable without a users table. */
export function userIdFor(userName: string): string {
  return `usr_${createHash('sha256').update(userName).digest('hex').slice(0, 12)}`;
}
