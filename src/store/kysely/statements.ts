/** Host parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 30_000;

/**
 * `rows` in slices that each fit one statement of `perRow` parameters a row, and at most `maxRows`
 * rows (for statements whose cost grows faster than their rows, such as a CASE over them).
 */
export function* statements<T>(rows: T[], perRow: number, maxRows = Infinity): Generator<T[]> {
  const size = Math.max(1, Math.min(maxRows, Math.floor(MAX_PARAMETERS / perRow)));
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/** Byte order of two strings, for sorting rows into one lock order. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
