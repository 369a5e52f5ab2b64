/** Everything the API has about one audit event, as a list: the fields, then each metadata entry. */
import type { ReactNode } from 'react';
import type { AuditRow } from '../api/operations.js';
import { absoluteWithZone } from '../format.js';

/** Metadata keys in words; any other key is shown as it is. */
const LABELS: Record<string, string> = {
  mode: 'Mode (HALT: stays down; RESTART: may reconnect)',
  message: 'Message to the user',
  blockSeconds: 'Block (seconds)',
  intentId: 'Intent (pairs PENDING with its settlement)',
  disconnect: 'Disconnect',
  detail: 'Detail',
  until: 'Blocked until',
  confirmedBy: 'Confirmed by',
  late: 'Confirmed late (after the caller was told "not confirmed")',
  endedAt: 'Session ended at',
};

function shown(key: string, value: unknown): ReactNode {
  if (value === null || value === undefined) return '—';
  // Instants in metadata are epoch milliseconds: said as times, with the zone.
  if (typeof value === 'number' && (key.endsWith('At') || key === 'until'))
    return absoluteWithZone(new Date(value).toISOString());
  if (typeof value === 'string') return value;
  return <code>{JSON.stringify(value)}</code>;
}

export function AuditDetail({ event: a }: { event: AuditRow }) {
  let metadata: Record<string, unknown> = {};
  try {
    metadata = JSON.parse(a.metadata) as Record<string, unknown>;
  } catch {
    metadata = { metadata: a.metadata };
  }
  const pairs: [string, ReactNode][] = [
    ['Event id', <span className="mono">{a.id}</span>],
    ['At', absoluteWithZone(a.at)],
    ['Actor', `${a.actor.name}${a.actor.tokenId ? ` (${a.actor.tokenId})` : ''}`],
    ['Client IP', a.actor.ip ?? '—'],
    ['User agent', a.actor.userAgent ?? '—'],
    ['Request id', a.requestId ?? '—'],
    ['Duration', a.durationMs === null ? '—' : `${a.durationMs} ms`],
    ['Error code', a.errorCode ?? '—'],
    ...Object.entries(metadata).map(([k, v]): [string, ReactNode] => [LABELS[k] ?? k, shown(k, v)]),
  ];
  return (
    <dl className="audit-detail">
      {pairs.map(([k, v]) => (
        <div key={k} className="pair">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
