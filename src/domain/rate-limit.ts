/** A request rate limit as configured (`SWITCHBOARD_RATE_LIMIT…`): a value, not a limiter. */
export interface RateLimit {
  /** Average requests per second a key may make; 0 turns the limit off. */
  ratePerSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
}

/**
 * Parses `RATE` or `RATE:BURST` (requests per second, may be fractional; burst size, whole); a lone
 * RATE gets a burst of twice itself, and `0` turns the limit off. Null when malformed.
 */
export function parseRateLimit(text: string): RateLimit | null {
  const m = /^\s*(\d{1,7}(?:\.\d{1,6})?)(?:\s*:\s*(\d{1,7}))?\s*$/.exec(text);
  if (!m) return null;
  const ratePerSecond = Number(m[1]);
  const burst = m[2] !== undefined ? Number(m[2]) : ratePerSecond > 0 ? Math.max(1, Math.ceil(ratePerSecond * 2)) : 0;
  if (ratePerSecond > 0 && burst < 1) return null;
  return { ratePerSecond, burst };
}
