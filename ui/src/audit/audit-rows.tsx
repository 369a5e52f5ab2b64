/**
 * The audit events as a table, or at phone width as cards (shell/record-cards.tsx): the same cells,
 * the same Details toggle and session link, so keyboard and screen reader paths are the same.
 */
import { Fragment } from 'react';
import type { AuditRow } from '../api/operations.js';
import { absolute } from '../format.js';
import { CardList, RecordCard } from '../shell/record-cards.js';
import { AuditDetail } from './audit-detail.js';
import { DataTable } from '../shell/data-table.js';
import { Shown } from '../shell/shown-text.js';

export interface AuditRowsProps {
  rows: AuditRow[];
  phone: boolean;
  zone: string;
  /** Rows that just arrived (marked a moment). */
  fresh: ReadonlySet<string>;
  /** Rows opened to their detail. */
  open: ReadonlySet<string>;
  onToggle: (id: string) => void;
  /** Show every event of this session. */
  onSession: (sessionId: string) => void;
}

export function AuditRows(props: AuditRowsProps) {
  return props.phone ? <AuditCards {...props} /> : <AuditTable {...props} />;
}

function When({ a }: { a: AuditRow }) {
  return (
    <time dateTime={a.at} title={a.at}>
      {absolute(a.at)}
    </time>
  );
}

function Outcome({ a }: { a: AuditRow }) {
  return (
    <>
      <span className={`badge ${a.outcome === 'SUCCESS' ? 'ok' : 'bad'}`}>{a.outcome}</span>
      {a.errorCode !== null && <span className="muted small block">{a.errorCode}</span>}
    </>
  );
}

function Actor({ a }: { a: AuditRow }) {
  return (
    <>
      {a.actor.name}
      <span className="muted small block">{[a.actor.tokenId, a.actor.ip].filter(Boolean).join(' · ')}</span>
    </>
  );
}

function Target({ a, onSession }: { a: AuditRow; onSession: (sessionId: string) => void }) {
  const sessionId = a.target.sessionId;
  return (
    <>
      {a.target.userName === null ? '—' : <Shown text={a.target.userName} />}
      <span className="muted small block mono">
        {sessionId !== null && (
          <button
            type="button"
            className="link mono"
            onClick={() => onSession(sessionId)}
            title="Every event of this session"
          >
            {sessionId}
          </button>
        )}
        {a.target.gatewayId !== null && ` ${a.target.gatewayId}`}
      </span>
    </>
  );
}

function Reason({ a }: { a: AuditRow }) {
  return <>{a.reason ?? <span className="muted">—</span>}</>;
}

function DetailsButton({ a, open, onToggle }: { a: AuditRow; open: boolean; onToggle: (id: string) => void }) {
  return (
    <button
      type="button"
      className="small"
      aria-expanded={open}
      aria-controls={`audit-${a.id}`}
      onClick={() => onToggle(a.id)}
    >
      {open ? 'Hide' : 'Details'}
      <span className="sr-only">
        {' '}
        of {a.action} at {absolute(a.at)}
      </span>
    </button>
  );
}

const dataOf = (a: AuditRow) => ({
  'data-audit-id': a.id,
  'data-session-id': a.target.sessionId ?? undefined,
});

function AuditCards({ rows, zone, fresh, open, onToggle, onSession }: AuditRowsProps) {
  return (
    <CardList label="Audit events">
      {rows.map((a) => (
        <RecordCard
          key={a.id}
          className={fresh.has(a.id) ? 'row-new' : undefined}
          data={dataOf(a)}
          head={
            <>
              <span className="card-title mono">{a.action}</span>
              <span className="card-badge">
                <Outcome a={a} />
              </span>
            </>
          }
          facts={[
            { label: `When (${zone})`, value: <When a={a} /> },
            { label: 'Actor', value: <Actor a={a} /> },
            { label: 'Target', value: <Target a={a} onSession={onSession} /> },
            { label: 'Reason', value: <Reason a={a} /> },
          ]}
          actions={<DetailsButton a={a} open={open.has(a.id)} onToggle={onToggle} />}
        >
          {open.has(a.id) && (
            <div id={`audit-${a.id}`} className="card-detail">
              <AuditDetail event={a} />
            </div>
          )}
        </RecordCard>
      ))}
    </CardList>
  );
}

function AuditTable({ rows, zone, fresh, open, onToggle, onSession }: AuditRowsProps) {
  return (
    <DataTable
      label="Audit events"
      columns={[`When (${zone})`, 'Action', 'Outcome', 'Actor', 'Target', 'Reason', { label: 'Details', hidden: true }]}
    >
      <tbody>
        {rows.map((a) => (
          <Fragment key={a.id}>
            <tr {...dataOf(a)} className={fresh.has(a.id) ? 'row-new' : undefined}>
              <td>
                <When a={a} />
              </td>
              <td className="mono">{a.action}</td>
              <td>
                <Outcome a={a} />
              </td>
              <td>
                <Actor a={a} />
              </td>
              <td>
                <Target a={a} onSession={onSession} />
              </td>
              <td className="wrap">
                <Reason a={a} />
              </td>
              <td>
                <DetailsButton a={a} open={open.has(a.id)} onToggle={onToggle} />
              </td>
            </tr>
            {open.has(a.id) && (
              <tr id={`audit-${a.id}`} className="detail-row">
                <td colSpan={7}>
                  <AuditDetail event={a} />
                </td>
              </tr>
            )}
          </Fragment>
        ))}
      </tbody>
    </DataTable>
  );
}
