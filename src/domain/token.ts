import type { Scope } from './scopes.js';

/** An API bearer credential as stored: only a hash of its secret, plus a display prefix. */
export interface ApiToken {
  id: string;
  name: string;
  /** First characters of the token string, safe to show and log (`sbt_ab12cd34…`). */
  prefix: string;
  secretHash: string;
  scopes: Scope[];
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export function tokenIsActive(t: ApiToken, now: number): boolean {
  return t.revokedAt === null && (t.expiresAt === null || t.expiresAt > now);
}

/** Parses durations such as `30d`, `12h`, `15m`, `45s` into milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return n > 0 ? n * unit : null;
}
