import { DomainError } from '../domain/errors.js';
import type { Keyset, SessionOrder } from '../store/store.js';

/** Opaque keyset cursor: base64url of `v1:<ms>:<id>`. */
export function encodeCursor(k: Keyset): string {
  return Buffer.from(`v1:${k.at}:${k.id}`).toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): Keyset | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^v1:(\d{1,16}):([a-z]{2,5}_[a-z0-9]{1,32})$/.exec(text);
  if (!m) throw new DomainError('BAD_CURSOR', 'The cursor is not valid; use a cursor returned by this API');
  return { at: Number(m[1]), id: m[2]! };
}

export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 500;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_MAX) {
    throw new DomainError('BAD_USER_INPUT', `first must be an integer from 1 to ${PAGE_MAX}`);
  }
  return first;
}

/** Whether `order` is the lists' default, newest first, which pages by the `v1` keyset cursor. */
export function isNewestFirst(order: SessionOrder | undefined): boolean {
  return order === undefined || (order.field === 'CONNECTED_AT' && order.direction === 'DESC');
}

/** Opaque cursor of a sorted list: base64url of `v2:<field>.<direction>:<id>` (the row's value is read by id). */
export function encodeSortedCursor(order: SessionOrder, id: string): string {
  return Buffer.from(`v2:${order.field}.${order.direction}:${id}`).toString('base64url');
}

/** The id in a sorted list's cursor; BAD_CURSOR when it is not one, or was made for another order. */
export function decodeSortedCursor(cursor: string | null | undefined, order: SessionOrder): string | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^v2:([A-Z_]{1,20})\.(ASC|DESC):([a-z]{2,5}_[a-z0-9]{1,32})$/.exec(text);
  if (!m || m[1] !== order.field || m[2] !== order.direction) {
    throw new DomainError(
      'BAD_CURSOR',
      'The cursor is not valid for this order; use a cursor returned by this API for the same orderBy',
    );
  }
  return m[3]!;
}
