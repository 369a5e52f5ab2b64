/** Links into the History page: a user's or an address's recent sessions, ended ones included. */
import type { ReactNode } from 'react';
import { navigate } from '../shell/router.js';

export interface HistoryQuery {
  user?: string;
  address?: string;
}

/** `/history?user=…` or `/history?address=…`: the page's URL, shareable and reloadable. */
export function historyHref(query: HistoryQuery): string {
  const q = new URLSearchParams();
  if (query.user) q.set('user', query.user);
  if (query.address) q.set('address', query.address);
  const text = q.toString();
  return text === '' ? '/history' : `/history?${text}`;
}

/** An ordinary link (opens in a new tab with a modifier key); a plain click stays in the console. */
export function HistoryLink(props: HistoryQuery & { children: ReactNode; label: string }) {
  const href = historyHref(props);
  return (
    <a
      href={href}
      className="history-link"
      aria-label={props.label}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate('history', href.slice('/history'.length));
      }}
    >
      {props.children}
    </a>
  );
}
