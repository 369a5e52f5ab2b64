/**
 * What the Sessions page shows — filters, sort, page size and page — kept in the URL's query string,
 * so a reload or a shared link shows the same table. Pages are keyset cursors: the URL holds the
 * cursors of the pages before this one (`after`, dot-separated), so "← Previous" works after a reload.
 */
import type { SessionFilter } from '../api/operations.js';

export type SortField = 'CONNECTED_AT' | 'USER' | 'GATEWAY' | 'TRAFFIC';
export interface SessionSort {
  field: SortField;
  direction: 'ASC' | 'DESC';
}

export interface SessionsView {
  filter: SessionFilter;
  sort: SessionSort;
  first: number;
  /** The cursor of each page up to this one; `[null]` is the first page. */
  cursors: (string | null)[];
}

export const DEFAULT_SORT: SessionSort = { field: 'CONNECTED_AT', direction: 'DESC' };
export const PAGE_SIZES = [25, 50, 100, 250];
const FILTER_KEYS = ['userNameContains', 'address', 'gatewayId', 'protocol'] as const;
const SORT_FIELDS: readonly SortField[] = ['CONNECTED_AT', 'USER', 'GATEWAY', 'TRAFFIC'];

export function readView(search: string): SessionsView {
  const q = new URLSearchParams(search);
  const filter: SessionFilter = {};
  for (const key of FILTER_KEYS) {
    const value = q.get(key)?.trim();
    if (value) filter[key] = value;
  }
  const [field, direction] = (q.get('sort') ?? '').split('.');
  const sort: SessionSort =
    SORT_FIELDS.includes(field as SortField) && (direction === 'ASC' || direction === 'DESC')
      ? { field: field as SortField, direction }
      : DEFAULT_SORT;
  const first = PAGE_SIZES.includes(Number(q.get('first'))) ? Number(q.get('first')) : 50;
  const after = (q.get('after') ?? '').split('.').filter((c) => /^[A-Za-z0-9_-]{1,200}$/.test(c));
  return { filter, sort, first, cursors: [null, ...after] };
}

export function writeView(view: SessionsView): string {
  const q = new URLSearchParams();
  for (const key of FILTER_KEYS) if (view.filter[key]) q.set(key, view.filter[key]!);
  if (view.sort.field !== DEFAULT_SORT.field || view.sort.direction !== DEFAULT_SORT.direction)
    q.set('sort', `${view.sort.field}.${view.sort.direction}`);
  if (view.first !== 50) q.set('first', String(view.first));
  const after = view.cursors.filter((c): c is string => c !== null);
  if (after.length > 0) q.set('after', after.join('.'));
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}

/** The next sort when a column's header is clicked: that column ascending, then descending. */
export function nextSort(current: SessionSort, field: SortField): SessionSort {
  if (current.field !== field)
    return { field, direction: field === 'CONNECTED_AT' || field === 'TRAFFIC' ? 'DESC' : 'ASC' };
  return { field, direction: current.direction === 'ASC' ? 'DESC' : 'ASC' };
}
