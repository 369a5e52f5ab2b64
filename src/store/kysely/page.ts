import type { Page } from '../store.js';

/** Checks a page size; the API layer validates first, so a bad value here is a programming error. */
export function checkFirst(first: number): number {
  if (!Number.isInteger(first) || first < 0) throw new RangeError(`first must be a non-negative integer, got ${first}`);
  return first;
}

/**
 * The LIMIT for a page of `first` rows: one more than asked, so the extra row tells whether another
 * page exists without a second query.
 */
export function pageLimit(first: number): number {
  return checkFirst(first) + 1;
}

/** Cuts the look-ahead row off a result fetched with `pageLimit(first)`. */
export function toPage<T>(rows: T[], first: number): Page<T> {
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}
