/**
 * The one place that keeps the sessions table live. Every `sessionEvents` event (WebSocket) re-reads
 * the current page of `onlineSessions`, which is then diffed with the last one: new rows are marked
 * `new`, ended ones stay a moment marked `leaving`, then go. Re-reading the page (rather than patching
 * rows from events) keeps filters, keyset paging and the total exact. While the subscription is down
 * the page is re-read every 2 s instead; while it is up, every 15 s as well (traffic counters and any
 * missed event).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { gql } from '../api/graphql-client.js';
import { ONLINE_SESSIONS, type PageInfo, type SessionFilter, type SessionRow } from '../api/operations.js';
import { guarded, type Auth } from '../auth/auth.js';
import { subscribeSessionEvents } from './session-events-trigger.js';
import type { SessionSort } from './sessions-view.js';

export type RowState = 'steady' | 'new' | 'leaving';
export interface LiveRow {
  session: SessionRow;
  state: RowState;
}

export interface LiveSessions {
  rows: LiveRow[];
  total: number | null;
  pageInfo: PageInfo | null;
  error: string | null;
  loading: boolean;
  /** True while the sessionEvents subscription is up; false while the table is polled. */
  live: boolean;
  /** Re-read now (after a disconnect, say) instead of waiting for the next tick. */
  refresh(): void;
}

/** How often the page is re-read without live events, and with them. */
export const POLL_MS = 2000;
export const LIVE_REFRESH_MS = 15_000;
/** How long a new row stays highlighted, and how long an ended row lingers before it goes. */
const HIGHLIGHT_MS = 1500;

interface Args {
  filter: SessionFilter;
  sort: SessionSort;
  first: number;
  after: string | null;
}

interface Reply {
  onlineSessions: { totalCount: number; pageInfo: PageInfo; edges: { node: SessionRow }[] };
}

export function useLiveSessions(auth: Auth, args: Args): LiveSessions {
  const [rows, setRows] = useState<LiveRow[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [pageInfo, setPageInfo] = useState<PageInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const kick = useRef<() => void>(() => undefined);
  const [live, setLive] = useState(false);
  const liveRef = useRef(false);
  const key = JSON.stringify(args);
  // The last page read, for the key it was read with: what the next read is diffed against.
  const seen = useRef<{ key: string; sessions: SessionRow[] } | null>(null);
  const currentKey = useRef(key);
  currentKey.current = key;
  const leaving = useRef(new Map<string, Leaving>());
  const fresh = useRef(new Map<string, number>());

  // Re-made each render (it reads `args`); the triggers call it through a ref. It diffs against
  // `seen`, never against React state, which may not have re-rendered between two reads.
  const read = async () => {
    const readKey = key;
    const r = await guarded(auth, () =>
      gql<Reply>(auth.token, ONLINE_SESSIONS, {
        first: args.first,
        after: args.after,
        filter: args.filter,
        orderBy: args.sort,
      }),
    );
    // The filter or page changed while this was in flight: its answer is for a table no longer shown.
    if (readKey !== currentKey.current) return;
    setLoading(false);
    if (!r.ok) {
      setError(r.error);
      return;
    }
    setError(null);
    const now = Date.now();
    const page = r.value.onlineSessions;
    const sessions = page.edges.map((e) => e.node);
    const ids = new Set(sessions.map((s) => s.id));
    const previous = seen.current?.key === readKey ? seen.current : null;
    if (previous !== null) {
      const before = new Set(previous.sessions.map((s) => s.id));
      for (const id of ids) if (!before.has(id)) fresh.current.set(id, now + HIGHLIGHT_MS);
      previous.sessions.forEach((session, index) => {
        if (!ids.has(session.id)) leaving.current.set(session.id, { session, index, until: now + HIGHLIGHT_MS });
      });
    } else {
      // A new filter or page: nothing "arrived" or "left", it is simply another table.
      fresh.current.clear();
      leaving.current.clear();
    }
    seen.current = { key: readKey, sessions };
    setTotal(page.totalCount);
    setPageInfo(page.pageInfo);
    setRows(compose(sessions, fresh.current, leaving.current, now));
  };

  const readRef = useRef(read);
  readRef.current = read;

  // The triggers: session events, and a timer whose period depends on whether events flow.
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let reading: Promise<void> | null = null;
    let again = false;
    const tick = async () => {
      clearTimeout(timer);
      if (reading !== null) {
        again = true; // an event during a read: read once more after it
        return;
      }
      reading = readRef.current();
      await reading;
      reading = null;
      if (stopped) return;
      if (again) {
        again = false;
        void tick();
        return;
      }
      timer = setTimeout(tick, liveRef.current ? LIVE_REFRESH_MS : POLL_MS);
    };
    const events = subscribeSessionEvents(
      auth.token,
      args.filter,
      () => void tick(),
      (up) => {
        liveRef.current = up;
        if (!stopped) setLive(up);
      },
    );
    kick.current = () => void tick();
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      events.close();
    };
  }, [key, auth.token]);

  // Expire highlights and lingering rows between reads.
  useEffect(() => {
    if (fresh.current.size === 0 && leaving.current.size === 0) return;
    const t = setTimeout(() => {
      const now = Date.now();
      for (const [id, until] of fresh.current) if (until <= now) fresh.current.delete(id);
      for (const [id, l] of leaving.current) if (l.until <= now) leaving.current.delete(id);
      setRows(compose(seen.current?.sessions ?? [], fresh.current, leaving.current, now));
    }, 300);
    return () => clearTimeout(t);
  }, [rows]);

  const refresh = useCallback(() => kick.current(), []);
  return { rows, total, pageInfo, error, loading, live, refresh };
}

/** A row that just left the page: shown a moment longer, where it was. */
interface Leaving {
  session: SessionRow;
  index: number;
  until: number;
}

/** The page's rows in server order, each marked; rows that just left stay at their old place a moment. */
function compose(
  sessions: SessionRow[],
  fresh: Map<string, number>,
  leaving: Map<string, Leaving>,
  now: number,
): LiveRow[] {
  const out: LiveRow[] = sessions.map((s) => ({ session: s, state: (fresh.get(s.id) ?? 0) > now ? 'new' : 'steady' }));
  const gone = [...leaving.values()]
    .filter((l) => l.until > now && !sessions.some((s) => s.id === l.session.id))
    .sort((a, b) => a.index - b.index);
  for (const l of gone) out.splice(Math.min(l.index, out.length), 0, { session: l.session, state: 'leaving' });
  return out;
}
