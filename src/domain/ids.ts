import { randomBytes, createHash } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** n random characters of [a-z0-9]; rejection sampling keeps the distribution uniform. */
export function randomId(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const byte of randomBytes(n * 2)) {
      if (byte < 252 && out.length < n) out += ALPHABET[byte % 36];
    }
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
