/**
 * The online sessions at phone width: one card per session (shell/record-cards.tsx, as on the other
 * pages), with what the table's row says (user, status, gateway, protocol and transport, addresses,
 * connected since, traffic) stacked so that nothing scrolls sideways. Same names for the same controls
 * as the table, so keyboard and screen reader paths are the same.
 */
import { absolute, bytes, since } from '../format.js';
import { CardList, RecordCard } from '../shell/record-cards.js';
import { protocolText, statusOf, STATUS_WORDS } from './row-status.js';
import type { SessionsTableProps } from './sessions-table.js';
import { Shown, shownText } from '../shell/shown-text.js';

/** What the table gets, less its column headers' sorting (at phone width the sort is a select). */
export type SessionCardsProps = Omit<SessionsTableProps, 'sort' | 'onSort'>;

export function SessionCards(props: SessionCardsProps) {
  const { now, health, canDisconnect, selection } = props;
  const toggle = (id: string, on: boolean) => {
    const next = { ...selection };
    if (on) next[id] = true;
    else delete next[id];
    props.onSelectionChange(next);
  };
  return (
    <CardList label="Online sessions" describedBy="sessions-summary">
      {props.rows.map(({ session: s, state }) => {
        const status = statusOf(s, health);
        const gateway = s.gateway?.name ?? s.gateway?.id ?? '—';
        const leaving = state === 'leaving';
        return (
          <RecordCard
            key={s.id}
            className={`row-${state}${props.openId === s.id ? ' row-open' : ''}`}
            data={{ 'data-session-id': s.id, 'data-user': s.user.name, 'data-state': state }}
            head={
              <>
                {canDisconnect && (
                  <input
                    type="checkbox"
                    aria-label={`Select ${shownText(s.user.name)}'s session ${s.id}`}
                    checked={selection[s.id] === true}
                    disabled={leaving}
                    onChange={(e) => toggle(s.id, e.target.checked)}
                  />
                )}
                <button
                  type="button"
                  className="link card-user"
                  onClick={() => props.onOpen(s)}
                  aria-label={`Details of ${shownText(s.user.name)}'s session on ${s.gateway?.name ?? 'unknown gateway'}`}
                >
                  <Shown text={s.user.name} />
                </button>
                <span className={`badge ${status === 'live' ? 'ok' : 'bad'}`} data-status={status}>
                  {STATUS_WORDS[status]}
                </span>
              </>
            }
            facts={[
              {
                label: 'Gateway',
                value: (
                  <>
                    {gateway} <span className="muted small block">{s.gateway?.region ?? ''}</span>
                  </>
                ),
              },
              { label: 'Protocol', value: protocolText(s), field: 'protocol' },
              { label: 'Client', value: s.clientAddress ?? '—', field: 'client', mono: true },
              {
                label: 'VPN address',
                value: s.virtualAddress ?? s.virtualAddress6 ?? '—',
                field: 'virtual',
                mono: true,
              },
              {
                label: 'Connected',
                value: (
                  <>
                    <time dateTime={s.connectedAt} title={absolute(s.connectedAt)}>
                      {since(s.connectedAt, now)} ago
                    </time>{' '}
                    <span className="muted small block">{absolute(s.connectedAt)}</span>
                  </>
                ),
              },
              {
                label: 'Traffic',
                hint: '↑ received from the client, ↓ sent to the client',
                value: (
                  <>
                    <span aria-label={`received ${bytes(s.bytesReceived)}`}>↑ {bytes(s.bytesReceived)}</span>{' '}
                    <span aria-label={`sent ${bytes(s.bytesSent)}`}>↓ {bytes(s.bytesSent)}</span>
                  </>
                ),
              },
            ]}
            actions={
              canDisconnect &&
              !leaving && (
                <button
                  type="button"
                  className="quiet small"
                  onClick={() => props.onDisconnect(s)}
                  aria-label={`Disconnect ${shownText(s.user.name)} (${s.id})`}
                >
                  Disconnect
                </button>
              )
            }
          />
        );
      })}
    </CardList>
  );
}
