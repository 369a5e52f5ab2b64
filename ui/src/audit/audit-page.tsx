/**
 * Audit: the trail of actions and their outcomes, newest first, with filters and keyset paging. Each
 * row (a card at phone width, audit-rows.tsx) opens to everything the API has about it
 * (audit-detail.tsx); new events arrive on their own (the first page is re-read every 5 s and new rows
 * are put on top).
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { gql } from '../api/graphql-client.js';
import { AUDIT_EVENTS, type AuditFilter, type AuditRow, type PageInfo } from '../api/operations.js';
import { zoneName } from '../format.js';
import { guarded, type Auth } from '../auth/auth.js';
import { FiltersToggle, useFoldedFilters } from '../shell/folded-filters.js';
import { TextFilterFields, type TextFilterField } from '../shell/text-filter-fields.js';
import { usePoll } from '../shell/use-poll.js';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from './audit-actions.js';
import { AuditRows } from './audit-rows.js';

const PAGE = 50;
export const AUDIT_POLL_MS = 5000;

interface Reply {
  auditEvents: { totalCount: number; pageInfo: PageInfo; edges: { node: AuditRow }[] };
}

const TEXT_FILTERS: TextFilterField<keyof AuditFilter>[] = [
  { key: 'actorTokenId', label: 'Actor token id', placeholder: 'tok_…' },
  { key: 'targetUserName', label: 'User' },
  { key: 'targetGatewayId', label: 'Gateway id' },
  { key: 'targetSessionId', label: 'Session id', placeholder: 'sess_…' },
];

export function AuditPage({ auth }: { auth: Auth }) {
  const [draft, setDraft] = useState<AuditFilter>({});
  const [filter, setFilter] = useState<AuditFilter>({});
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [pageInfo, setPageInfo] = useState<PageInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const folded = useFoldedFilters();
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const filterKey = useRef('');
  filterKey.current = JSON.stringify(filter);
  const zone = zoneName();

  async function load(after: string | null, f: AuditFilter) {
    setBusy(true);
    const key = JSON.stringify(f);
    const r = await guarded(auth, () => gql<Reply>(auth.token, AUDIT_EVENTS, { first: PAGE, after, filter: f }));
    setBusy(false);
    if (key !== filterKey.current) return;
    if (!r.ok) {
      setError(r.error);
      return;
    }
    setError(null);
    const page = r.value.auditEvents;
    setRows((old) => [...(after === null ? [] : (old ?? [])), ...page.edges.map((e) => e.node)]);
    setTotal(page.totalCount);
    setPageInfo(page.pageInfo);
  }

  useEffect(() => {
    setRows(null);
    void load(null, filter);
    // Reload when the filter changes; `load` is re-made each render and reads nothing stale.
  }, [filter, auth.token]);

  // Live: events newer than the newest shown go on top, marked a moment.
  usePoll(
    async () => {
      if (rows === null) return;
      const key = filterKey.current;
      const r = await guarded(auth, () => gql<Reply>(auth.token, AUDIT_EVENTS, { first: PAGE, filter }));
      if (!r.ok || key !== filterKey.current) return;
      setRows((old) => {
        const known = new Set((old ?? []).map((a) => a.id));
        const added = r.value.auditEvents.edges.map((e) => e.node).filter((a) => !known.has(a.id));
        if (added.length === 0) return old;
        setFresh(new Set(added.map((a) => a.id)));
        return [...added, ...(old ?? [])];
      });
      setTotal(r.value.auditEvents.totalCount);
    },
    AUDIT_POLL_MS,
    [filter, auth.token, rows === null],
  );

  function apply(e: FormEvent) {
    e.preventDefault();
    const clean: AuditFilter = {};
    for (const [k, v] of Object.entries(draft) as [keyof AuditFilter, string | undefined][]) {
      if (v === undefined || v.trim() === '') continue;
      clean[k] = k === 'since' || k === 'until' ? new Date(v).toISOString() : v.trim();
    }
    setFilter(clean);
  }
  const toggle = (id: string) =>
    setOpen((o) => {
      const next = new Set(o);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const bySession = (sessionId: string) => {
    setDraft({ targetSessionId: sessionId });
    setFilter({ targetSessionId: sessionId });
  };

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit trail</h1>
        <p role="status" aria-live="polite" className="summary">
          {total === null
            ? 'Loading…'
            : `${total} event${total === 1 ? '' : 's'}${Object.keys(filter).length > 0 ? ' matching the filters' : ''}, newest first`}
          <span className="muted small"> · new events appear by themselves · times in {zone}</span>
        </p>
      </div>
      <FiltersToggle folded={folded} controls="audit-filters" active={Object.keys(filter).length} />
      <form
        id="audit-filters"
        className="filters"
        onSubmit={apply}
        aria-label="Filter audit events"
        hidden={folded.hidden}
      >
        <div className="field">
          <label htmlFor="a-action">Action</label>
          <select
            id="a-action"
            value={draft.action ?? ''}
            onChange={(e) => setDraft({ ...draft, action: e.target.value })}
          >
            <option value="">Any action</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="a-outcome">Outcome</label>
          <select
            id="a-outcome"
            value={draft.outcome ?? ''}
            onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}
          >
            <option value="">Any outcome</option>
            {AUDIT_OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
        <TextFilterFields
          fields={TEXT_FILTERS}
          idPrefix="a"
          values={draft}
          onChange={(key, value) => setDraft({ ...draft, [key]: value })}
        />
        <div className="field">
          <label htmlFor="a-since">Since ({zone})</label>
          <input
            id="a-since"
            type="datetime-local"
            value={draft.since ?? ''}
            onChange={(e) => setDraft({ ...draft, since: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor="a-until">Until ({zone})</label>
          <input
            id="a-until"
            type="datetime-local"
            value={draft.until ?? ''}
            onChange={(e) => setDraft({ ...draft, until: e.target.value })}
          />
        </div>
        <div className="field buttons">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft({});
              setFilter({});
            }}
          >
            Reset
          </button>
        </div>
      </form>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {rows !== null && rows.length === 0 && <p className="empty">No audit event matches.</p>}
      {rows !== null && rows.length > 0 && (
        <AuditRows
          rows={rows}
          phone={folded.phone}
          zone={zone}
          fresh={fresh}
          open={open}
          onToggle={toggle}
          onSession={bySession}
        />
      )}
      {pageInfo?.hasNextPage && (
        <nav className="pager" aria-label="More audit events">
          <button type="button" onClick={() => void load(pageInfo.endCursor, filter)} disabled={busy}>
            Load older events
          </button>
        </nav>
      )}
    </section>
  );
}
