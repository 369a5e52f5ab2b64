/** Audit: the trail of actions and their outcomes, newest first, with filters and keyset paging. */
import { useEffect, useState, type FormEvent } from 'react';
import { gql } from '../api/graphql-client.js';
import { AUDIT_EVENTS, type AuditFilter, type AuditRow, type PageInfo } from '../api/operations.js';
import { absolute } from '../format.js';
import { guarded, type Auth } from '../auth/auth.js';

const ACTIONS = ['session.disconnect', 'token.create', 'token.revoke'];
const OUTCOMES = ['SUCCESS', 'NOT_FOUND', 'FORBIDDEN', 'GATEWAY_UNAVAILABLE', 'FAILED'];
const PAGE = 50;

interface Reply {
  auditEvents: { totalCount: number; pageInfo: PageInfo; edges: { node: AuditRow }[] };
}

export function AuditPage({ auth }: { auth: Auth }) {
  const [draft, setDraft] = useState<AuditFilter>({});
  const [filter, setFilter] = useState<AuditFilter>({});
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [pageInfo, setPageInfo] = useState<PageInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function load(after: string | null, f: AuditFilter) {
    setBusy(true);
    const r = await guarded(auth, () => gql<Reply>(auth.token, AUDIT_EVENTS, { first: PAGE, after, filter: f }));
    setBusy(false);
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
    void load(null, filter);
    // Reload when the filter changes; `load` is re-made each render and reads nothing stale.
  }, [filter, auth.token]);

  function apply(e: FormEvent) {
    e.preventDefault();
    const clean: AuditFilter = {};
    for (const [k, v] of Object.entries(draft) as [keyof AuditFilter, string | undefined][]) {
      if (v === undefined || v.trim() === '') continue;
      clean[k] = k === 'since' ? new Date(v).toISOString() : v.trim();
    }
    setFilter(clean);
  }

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit trail</h1>
        <p role="status" aria-live="polite" className="summary">
          {total === null ? 'Loading…' : `${total} event${total === 1 ? '' : 's'}${Object.keys(filter).length > 0 ? ' matching the filters' : ''}, newest first`}
        </p>
      </div>
      <form className="filters" onSubmit={apply} aria-label="Filter audit events">
        <div className="field">
          <label htmlFor="a-action">Action</label>
          <select id="a-action" value={draft.action ?? ''} onChange={(e) => setDraft({ ...draft, action: e.target.value })}>
            <option value="">Any action</option>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="a-outcome">Outcome</label>
          <select id="a-outcome" value={draft.outcome ?? ''} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
            <option value="">Any outcome</option>
            {OUTCOMES.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="a-user">User</label>
          <input id="a-user" value={draft.targetUserName ?? ''} onChange={(e) => setDraft({ ...draft, targetUserName: e.target.value })} autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor="a-session">Session id</label>
          <input id="a-session" value={draft.targetSessionId ?? ''} onChange={(e) => setDraft({ ...draft, targetSessionId: e.target.value })} placeholder="sess_…" autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor="a-since">Since</label>
          <input id="a-since" type="datetime-local" value={draft.since ?? ''} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </div>
        <div className="field buttons">
          <button type="submit" className="primary">Apply filters</button>
          <button type="button" onClick={() => { setDraft({}); setFilter({}); }}>Reset</button>
          <button type="button" onClick={() => void load(null, filter)} disabled={busy}>Refresh</button>
        </div>
      </form>
      {error !== null && <p role="alert" className="error">{error}</p>}
      {rows !== null && rows.length === 0 && <p className="empty">No audit event matches.</p>}
      {rows !== null && rows.length > 0 && (
        <div className="table-wrap">
          <table className="data" aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id} data-audit-id={a.id} data-session-id={a.target.sessionId ?? undefined}>
                  <td><time dateTime={a.at}>{absolute(a.at)}</time></td>
                  <td className="mono">{a.action}</td>
                  <td>
                    <span className={`badge ${a.outcome === 'SUCCESS' ? 'ok' : 'bad'}`}>{a.outcome}</span>
                    {a.errorCode !== null && <span className="muted small block">{a.errorCode}</span>}
                  </td>
                  <td>
                    {a.actor.name}
                    <span className="muted small block">{[a.actor.tokenId, a.actor.ip].filter(Boolean).join(' · ')}</span>
                  </td>
                  <td>
                    {a.target.userName ?? '—'}
                    <span className="muted small block mono">{[a.target.sessionId, a.target.gatewayId].filter(Boolean).join(' · ')}</span>
                  </td>
                  <td>{a.reason ?? <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pageInfo?.hasNextPage && (
        <nav className="pager" aria-label="More audit events">
          <button type="button" onClick={() => void load(pageInfo.endCursor, filter)} disabled={busy}>Load older events</button>
        </nav>
      )}
    </section>
  );
}
