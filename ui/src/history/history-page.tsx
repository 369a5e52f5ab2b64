/**
 * History: a user's or an address's recent sessions, ended ones included, newest first, with how each
 * ended, who ended it, how long it lasted and its traffic. What it shows lives in the URL
 * (`/history?user=…` or `?address=…`), so a link from a session opens it and a reload keeps it.
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { gql } from '../api/graphql-client.js';
import { guarded, type Auth } from '../auth/auth.js';
import { absolute, bytes, duration, zoneName } from '../format.js';
import { navigate } from '../shell/router.js';
import { TextFilterFields, type TextFilterField } from '../shell/text-filter-fields.js';
import { HistoryLink, historyHref, type HistoryQuery } from './history-link.js';
import {
  END_CAUSE_WORDS,
  SESSION_HISTORY,
  type HistoryFilter,
  type HistoryPage as Page,
  type HistoryRow,
} from './history-operations.js';
import { DataTable } from '../shell/data-table.js';
import { Shown, shownText } from '../shell/shown-text.js';

const PAGE = 50;
const TEXT_FIELDS: TextFilterField<'user' | 'address'>[] = [
  { key: 'user', label: 'User', placeholder: 'alice' },
  { key: 'address', label: 'Address', placeholder: '203.0.113.7:51234 or 10.8.0.6' },
];

type Shown = 'all' | 'ended' | 'online';
interface View extends HistoryQuery {
  shown: Shown;
}

function readView(search: string): View {
  const q = new URLSearchParams(search);
  const shown = q.get('shown');
  return {
    user: q.get('user')?.trim() || undefined,
    address: q.get('address')?.trim() || undefined,
    shown: shown === 'ended' || shown === 'online' ? shown : 'all',
  };
}

function writeView(view: View): string {
  const href = historyHref(view);
  const q = new URLSearchParams(href.slice('/history'.length));
  if (view.shown !== 'all') q.set('shown', view.shown);
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}

function filterOf(view: View): HistoryFilter {
  const filter: HistoryFilter = {};
  if (view.user) filter.userName = view.user;
  if (view.address) filter.address = view.address;
  if (view.shown !== 'all') filter.ended = view.shown === 'ended';
  return filter;
}

/** The page's search, following Back/Forward and links from elsewhere in the console. */
function useSearch(): string {
  const [search, setSearch] = useState(location.search);
  useEffect(() => {
    const onPop = () => setSearch(location.search);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return search;
}

export function HistoryPage({ auth }: { auth: Auth }) {
  const search = useSearch();
  const view = readView(search);
  const key = writeView(view);
  const [draft, setDraft] = useState<View>(view);
  const [rows, setRows] = useState<HistoryRow[] | null>(null);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const zone = zoneName();

  const load = useCallback(
    async (after: string | null) => {
      setBusy(true);
      const current = readView(key);
      const r = await guarded(auth, () =>
        gql<{ sessionHistory: Page }>(auth.token, SESSION_HISTORY, { filter: filterOf(current), first: PAGE, after }),
      );
      setBusy(false);
      if (!r.ok) {
        setError(r.error);
        return;
      }
      setError(null);
      setPage(r.value.sessionHistory);
      const fresh = r.value.sessionHistory.edges.map((e) => e.node);
      setRows((old) => (after === null ? fresh : [...(old ?? []), ...fresh]));
    },
    [auth, key],
  );

  useEffect(() => {
    setDraft(readView(key));
    setRows(null);
    void load(null);
  }, [key, load]);

  function apply(e: FormEvent) {
    e.preventDefault();
    navigate('history', writeView({ user: draft.user?.trim(), address: draft.address?.trim(), shown: draft.shown }));
  }

  const whose = [view.user && `user ${view.user}`, view.address && `address ${view.address}`].filter(Boolean);
  return (
    <section aria-labelledby="history-title">
      <div className="page-head">
        <h1 id="history-title">History{whose.length > 0 ? `: ${whose.join(', ')}` : ''}</h1>
        <p role="status" aria-live="polite" className="summary">
          {page === null
            ? 'Loading…'
            : `${page.totalCount} session${page.totalCount === 1 ? '' : 's'}${view.shown === 'all' ? ', online and ended' : view.shown === 'ended' ? ', ended' : ', online'}, newest first`}
          <span className="muted small"> · user names without regard to case · times in {zone}</span>
        </p>
      </div>
      <form className="filters" onSubmit={apply} aria-label="Whose history">
        <TextFilterFields
          fields={TEXT_FIELDS}
          idPrefix="h"
          values={draft}
          onChange={(key, value) => setDraft({ ...draft, [key]: value })}
        />
        <div className="field">
          <label htmlFor="h-shown">Sessions</label>
          <select
            id="h-shown"
            value={draft.shown}
            onChange={(e) => {
              const shown = e.target.value as Shown;
              setDraft({ ...draft, shown });
              navigate('history', writeView({ ...view, shown }));
            }}
          >
            <option value="all">Online and ended</option>
            <option value="ended">Ended only</option>
            <option value="online">Online only</option>
          </select>
        </div>
        <div className="field buttons">
          <button type="submit" className="primary">
            Show history
          </button>
        </div>
      </form>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {rows !== null && rows.length === 0 && <p className="empty">No session matches.</p>}
      {rows !== null && rows.length > 0 && <HistoryTable rows={rows} />}
      {page?.pageInfo.hasNextPage && (
        <nav className="pager" aria-label="More sessions">
          <button type="button" onClick={() => void load(page.pageInfo.endCursor)} disabled={busy}>
            Load older sessions
          </button>
        </nav>
      )}
    </section>
  );
}

function HistoryTable({ rows }: { rows: HistoryRow[] }) {
  return (
    <DataTable
      label="Session history"
      columns={[
        'User',
        'Gateway',
        'Client address',
        'Virtual address',
        'Connected',
        'Ended',
        'Duration',
        'How it ended',
        'Ended by',
        'Received',
        'Sent',
      ]}
    >
      <tbody>
        {rows.map((s) => (
          <tr key={s.id} data-session={s.id}>
            <td>
              <HistoryLink user={s.user.name} label={`History of user ${shownText(s.user.name)}`}>
                <Shown text={s.user.name} />
              </HistoryLink>
            </td>
            <td>{s.gateway?.name ?? s.gateway?.id ?? '—'}</td>
            <td className="mono">
              {s.clientAddress === null ? (
                '—'
              ) : (
                <HistoryLink address={s.clientAddress} label={`History of address ${s.clientAddress}`}>
                  {s.clientAddress}
                </HistoryLink>
              )}
            </td>
            <td className="mono">{s.virtualAddress ?? s.virtualAddress6 ?? '—'}</td>
            <td>{absolute(s.connectedAt)}</td>
            <td>{s.endedAt === null ? <span className="badge ok">online</span> : absolute(s.endedAt)}</td>
            <td>{duration(s.durationSeconds * 1000)}</td>
            <td data-cause={s.endCause ?? ''}>
              {s.endCause === null ? '—' : (END_CAUSE_WORDS[s.endCause] ?? s.endCause)}
              {s.endReason !== null && <span className="muted small block">“{s.endReason}”</span>}
            </td>
            <td>{s.endedBy?.name ?? <span className="muted">—</span>}</td>
            <td>{bytes(s.bytesReceived)}</td>
            <td>{bytes(s.bytesSent)}</td>
          </tr>
        ))}
      </tbody>
    </DataTable>
  );
}
