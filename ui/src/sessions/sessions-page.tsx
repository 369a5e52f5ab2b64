/**
 * Sessions: who is online now. Filters, sort and keyset paging go to the API (so they cover every
 * page) and live in the URL (sessions-view.ts). The table stays live (see use-live-sessions.ts).
 * At phone width (shell/use-media.ts) the rows are cards, the filters fold behind a toggle and the
 * details open as a sheet.
 */
import type { RowSelectionState } from '@tanstack/react-table';
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { SessionFilter, SessionRow } from '../api/operations.js';
import { can } from '../auth/scopes.js';
import type { Auth } from '../auth/auth.js';
import { healthOf, type Health } from '../gateways/gateway-health.js';
import { useGateways } from '../gateways/use-gateways.js';
import { DisconnectDialog, type DisconnectTarget } from './disconnect-dialog.js';
import { HealthBanner } from './health-banner.js';
import { statusOf } from './row-status.js';
import { FiltersToggle, useFoldedFilters } from '../shell/folded-filters.js';
import { SessionCards } from './session-cards.js';
import { SessionDetail } from './session-detail.js';
import { SessionsTable } from './sessions-table.js';
import { useLiveSessions } from './use-live-sessions.js';
import { PAGE_SIZES, nextSort, readView, writeView, type SessionsView, type SortField } from './sessions-view.js';

/** At phone width there are no column headers to click: the same sorts, as one select. */
const PHONE_SORTS: [string, string][] = [
  ['CONNECTED_AT.DESC', 'Connected: newest first'],
  ['CONNECTED_AT.ASC', 'Connected: oldest first'],
  ['USER.ASC', 'User: A to Z'],
  ['USER.DESC', 'User: Z to A'],
  ['GATEWAY.ASC', 'Gateway: A to Z'],
  ['GATEWAY.DESC', 'Gateway: Z to A'],
  ['TRAFFIC.DESC', 'Traffic: most first'],
  ['TRAFFIC.ASC', 'Traffic: least first'],
];

export function SessionsPage({ auth }: { auth: Auth }) {
  const canDisconnect = can(auth.viewer.scopes, 'sessions:disconnect');
  const [view, setView] = useState<SessionsView>(() => readView(location.search));
  const { filter, sort, first, cursors } = view;
  const [draft, setDraft] = useState<SessionFilter>(filter);
  const after = cursors[cursors.length - 1] ?? null;
  const live = useLiveSessions(auth, { filter, sort, first, after });
  // The URL follows the view (replaced, not pushed: the Back button leaves the page, as links do).
  useEffect(() => {
    const search = writeView(view);
    if (search !== location.search) history.replaceState(null, '', `${location.pathname}${search}`);
  }, [view]);
  const show = useCallback(
    (change: Partial<SessionsView>) => setView((v) => ({ ...v, cursors: [null], ...change })),
    [],
  );
  const gateways = useGateways(auth).gateways ?? [];
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [open, setOpen] = useState<SessionRow | null>(null);
  const folded = useFoldedFilters();
  const phone = folded.phone;
  /** What opened the details (a card's or a row's name): focus goes back there when they close. */
  const opener = useRef<HTMLElement | null>(null);
  const [dialog, setDialog] = useState<DisconnectTarget | null>(null);
  const [now, setNow] = useState(Date.now());
  const [detailVersion, setDetailVersion] = useState(0);

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => setNow(Date.now()), [live.rows]);

  // A selection only holds rows that are still on the page.
  useEffect(() => {
    const online = new Set(live.rows.filter((r) => r.state !== 'leaving').map((r) => r.session.id));
    setSelection((sel) => {
      const kept = Object.fromEntries(Object.entries(sel).filter(([id]) => online.has(id)));
      return Object.keys(kept).length === Object.keys(sel).length ? sel : kept;
    });
  }, [live.rows]);

  const shown = live.rows;

  const protocols = [...new Set(gateways.map((g) => g.protocol))].sort();
  // Each gateway's health as last read (every 5 s); a row's own gateway fields until the list is in.
  const health = useMemo(() => new Map<string, Health>(gateways.map((g) => [g.id, healthOf(g)])), [gateways]);
  const unconfirmed = live.rows.filter((r) => r.state !== 'leaving' && statusOf(r.session, health) !== 'live').length;
  const selected = live.rows.filter((r) => selection[r.session.id] === true).map((r) => r.session);
  const onOpen = useCallback((s: SessionRow) => {
    opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setOpen(s);
  }, []);
  const closeDetail = useCallback(() => {
    setOpen(null);
    const back = opener.current;
    opener.current = null;
    // After the sheet has left the top layer; the card may have gone meanwhile (then focus stays on the page).
    requestAnimationFrame(() => {
      if (back?.isConnected) back.focus();
    });
  }, []);
  const onDisconnect = useCallback((s: SessionRow) => setDialog({ kind: 'one', session: s }), []);

  function applyFilter(next: SessionFilter) {
    const clean: SessionFilter = {};
    for (const [k, v] of Object.entries(next) as [keyof SessionFilter, string | undefined][])
      if (v !== undefined && v.trim() !== '') clean[k] = v.trim();
    show({ filter: clean });
    setSelection({});
  }
  function apply(e: FormEvent) {
    e.preventDefault();
    applyFilter(draft);
  }
  /** A select applies at once; the text boxes wait for Enter or the button. */
  function choose(change: SessionFilter) {
    const next = { ...draft, ...change };
    setDraft(next);
    applyFilter(next);
  }
  function reset() {
    setDraft({});
    show({ filter: {} });
  }
  const onSort = useCallback(
    (field: SortField) => setView((v) => ({ ...v, cursors: [null], sort: nextSort(v.sort, field) })),
    [],
  );

  const page = cursors.length;
  const list = {
    rows: shown,
    now,
    health,
    canDisconnect,
    selection,
    onSelectionChange: setSelection,
    onOpen,
    onDisconnect,
    openId: open?.id ?? null,
  };
  const activeFilters = Object.keys(filter).length;
  const onPage = live.rows.filter((r) => r.state !== 'leaving').length;
  return (
    <section aria-labelledby="sessions-title" className={open ? 'with-detail' : undefined}>
      <div className="page-head">
        <h1 id="sessions-title">Sessions online</h1>
        <p id="sessions-summary" role="status" aria-live="polite" className="summary">
          {live.total === null
            ? 'Loading…'
            : `${live.total} online${Object.keys(filter).length > 0 ? ' matching the filters' : ''}`}
          {live.total !== null && live.total > 0 ? ` · page ${page}, ${onPage} shown` : ''}
          {unconfirmed > 0 ? `, ${unconfirmed} not confirmed` : ''}
          <span className={live.live ? 'live-dot' : 'live-dot polling'} aria-hidden="true" />{' '}
          <span className="muted small" data-live={live.live ? 'events' : 'polling'}>
            {live.live ? 'live updates' : 'refreshing every 2 s'}
          </span>
        </p>
      </div>

      <FiltersToggle folded={folded} controls="session-filters" active={activeFilters} />
      <form
        id="session-filters"
        className="filters"
        onSubmit={apply}
        aria-label="Filter sessions"
        hidden={folded.hidden}
      >
        <div className="field">
          <label htmlFor="f-user">User</label>
          <input
            id="f-user"
            type="search"
            value={draft.userNameContains ?? ''}
            onChange={(e) => setDraft({ ...draft, userNameContains: e.target.value })}
            placeholder="part of a name"
            autoComplete="off"
          />
        </div>
        <div className="field">
          <label htmlFor="f-address">Address</label>
          <input
            id="f-address"
            type="search"
            value={draft.address ?? ''}
            onChange={(e) => setDraft({ ...draft, address: e.target.value })}
            placeholder="ip or ip:port"
            autoComplete="off"
          />
        </div>
        <div className="field">
          <label htmlFor="f-gateway">Gateway</label>
          <select id="f-gateway" value={draft.gatewayId ?? ''} onChange={(e) => choose({ gatewayId: e.target.value })}>
            <option value="">All gateways</option>
            {gateways.map((g) => (
              <option key={g.id} value={g.id}>
                {g.name} ({g.region})
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-protocol">Protocol</label>
          <select id="f-protocol" value={draft.protocol ?? ''} onChange={(e) => choose({ protocol: e.target.value })}>
            <option value="">All protocols</option>
            {protocols.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        {phone && (
          <div className="field">
            <label htmlFor="f-sort">Sort by</label>
            <select
              id="f-sort"
              value={`${sort.field}.${sort.direction}`}
              onChange={(e) => {
                const [field, direction] = e.target.value.split('.') as [SortField, 'ASC' | 'DESC'];
                show({ sort: { field, direction } });
              }}
            >
              {PHONE_SORTS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field buttons">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button type="button" onClick={reset}>
            Reset
          </button>
        </div>
      </form>

      <HealthBanner gateways={gateways} />

      {live.error !== null && (
        <p role="alert" className="error">
          {live.error}
        </p>
      )}

      {canDisconnect && selected.length > 0 && (
        <div className="bulk" role="region" aria-label="Selected sessions">
          <span>{selected.length} selected</span>
          <button type="button" className="quiet" onClick={() => setDialog({ kind: 'many', sessions: selected })}>
            Disconnect selected…
          </button>
          <button type="button" onClick={() => setSelection({})}>
            Clear selection
          </button>
        </div>
      )}

      <div className="split">
        <div className="main-col">
          {!live.loading && shown.length === 0 ? (
            <p className="empty">
              {'No session is online' + (Object.keys(filter).length > 0 ? ' that matches the filters.' : '.')}
            </p>
          ) : phone ? (
            <SessionCards {...list} />
          ) : (
            <SessionsTable {...list} sort={sort} onSort={onSort} />
          )}
          <nav className="pager" aria-label="Pages of sessions">
            <button
              type="button"
              disabled={page === 1}
              onClick={() => setView((v) => ({ ...v, cursors: v.cursors.slice(0, -1) }))}
            >
              ← Previous
            </button>
            <span>Page {page}</span>
            <button
              type="button"
              disabled={!live.pageInfo?.hasNextPage}
              onClick={() => {
                const end = live.pageInfo?.endCursor;
                if (end) setView((v) => ({ ...v, cursors: [...v.cursors, end] }));
              }}
            >
              Next →
            </button>
            <label htmlFor="f-size" className="inline">
              Per page{' '}
              <select id="f-size" value={first} onChange={(e) => show({ first: Number(e.target.value) })}>
                {PAGE_SIZES.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
          </nav>
        </div>
        {open !== null && (
          <SessionDetail
            auth={auth}
            session={open}
            now={now}
            canDisconnect={canDisconnect}
            version={detailVersion}
            sheet={phone}
            onClose={closeDetail}
            onDisconnect={onDisconnect}
            onDisconnectUser={(userName) =>
              setDialog({
                kind: 'user',
                userName,
                sessions: live.rows.filter((r) => r.session.user.name === userName).map((r) => r.session),
              })
            }
          />
        )}
      </div>

      {dialog !== null && (
        <DisconnectDialog
          auth={auth}
          target={dialog}
          health={health}
          onClose={(changed) => {
            setDialog(null);
            if (changed) {
              setSelection({});
              setDetailVersion((v) => v + 1);
              live.refresh();
            }
          }}
        />
      )}
    </section>
  );
}
