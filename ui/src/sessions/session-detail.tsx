/**
 * Everything the API knows about one online session, with its disconnect actions: a panel beside the
 * table, or at phone width a sheet (a modal dialog: focus stays inside, Escape closes it).
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { gql } from '../api/graphql-client.js';
import { ONLINE_SESSION, type SessionRow } from '../api/operations.js';
import { absolute, bytes, since } from '../format.js';
import { guarded, type Auth } from '../auth/auth.js';
import { trapTab } from '../shell/focus-trap.js';
import { protocolText } from './row-status.js';
import { HistoryLink } from '../history/history-link.js';
import { Shown, shownText } from '../shell/shown-text.js';

export function SessionDetail(props: {
  auth: Auth;
  session: SessionRow;
  now: number;
  canDisconnect: boolean;
  /** Bumped by the page after a disconnect: read the session again (it may have ended). */
  version: number;
  /** Phone width: a modal sheet instead of the side panel. */
  sheet?: boolean;
  onClose(): void;
  onDisconnect(session: SessionRow): void;
  onDisconnectUser(userName: string): void;
}) {
  const { auth, now } = props;
  const [s, setS] = useState<SessionRow>(props.session);
  const [gone, setGone] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const sheet = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const dialog = sheet.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
    heading.current?.focus();
  }, [props.session.id, props.sheet]);

  // Read the session again: the row may be a page old, and it may have ended meanwhile.
  useEffect(() => {
    setS(props.session);
    setGone(false);
  }, [props.session]);
  useEffect(() => {
    void guarded(auth, () =>
      gql<{ onlineSession: SessionRow | null }>(auth.token, ONLINE_SESSION, { id: props.session.id }),
    ).then((r) => {
      if (!r.ok) return;
      if (r.value.onlineSession === null) setGone(true);
      else setS(r.value.onlineSession);
    });
  }, [auth, props.session, props.version]);

  const rows: [string, ReactNode][] = [
    ['Session id', <span className="mono">{s.id}</span>],
    [
      'User',
      <>
        <HistoryLink user={s.user.name} label={`History of user ${shownText(s.user.name)}`}>
          <Shown text={s.user.name} />
        </HistoryLink>{' '}
        <span className="muted mono small">{s.user.id}</span>
      </>,
    ],
    [
      'Gateway',
      s.gateway ? (
        <>
          {s.gateway.name} <span className="muted mono small">{s.gateway.id}</span>
        </>
      ) : (
        'no longer configured'
      ),
    ],
    ['Region', s.gateway?.region ?? '—'],
    ['Gateway mode', s.gateway?.mode ?? '—'],
    ['Agent', s.gateway ? (s.gateway.agentConnected ? 'connected' : 'not connected') : '—'],
    ['Protocol', protocolText(s)],
    ...(s.publicKey === null
      ? []
      : [
          [
            'Public key',
            // Shortened as WireGuard tools show keys; the whole key is the title and copyable.
            <code title={s.publicKey}>{`${s.publicKey.slice(0, 8)}…${s.publicKey.slice(-6)}`}</code>,
          ] as [string, ReactNode],
        ]),
    [
      'Client address',
      <span className="mono">
        {s.clientAddress === null ? (
          '—'
        ) : (
          <HistoryLink address={s.clientAddress} label={`History of address ${s.clientAddress}`}>
            {s.clientAddress}
          </HistoryLink>
        )}
      </span>,
    ],
    ['Virtual address', <span className="mono">{s.virtualAddress ?? '—'}</span>],
    ['Virtual IPv6 address', <span className="mono">{s.virtualAddress6 ?? '—'}</span>],
    [
      'Connected',
      <>
        {since(s.connectedAt, now)} ago <span className="muted small">({absolute(s.connectedAt)})</span>
      </>,
    ],
    [
      'Last reported',
      <>
        {since(s.lastSeenAt, now)} ago <span className="muted small">({absolute(s.lastSeenAt)})</span>
      </>,
    ],
    ['Confirmed by its gateway', s.confirmed ? 'yes' : 'no: the agent went silent; the session may have ended unseen'],
    ['Received from client', `${bytes(s.bytesReceived)} (${s.bytesReceived.toLocaleString()} bytes)`],
    ['Sent to client', `${bytes(s.bytesSent)} (${s.bytesSent.toLocaleString()} bytes)`],
    ['Client version', s.client.version ?? '—'],
    ['Client platform', s.client.platform ?? '—'],
  ];

  const body = (
    <>
      <div className="detail-head">
        <h2 id="detail-title" ref={heading} tabIndex={-1}>
          <Shown text={s.user.name} />
          ’s session
        </h2>
        <button type="button" onClick={props.onClose} aria-label="Close session details">
          ✕
        </button>
      </div>
      {gone && (
        <p role="status" className="outcome warn">
          This session is no longer online.
        </p>
      )}
      <dl>
        {rows.map(([k, v]) => (
          <div key={k} className="pair">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {props.canDisconnect && !gone && (
        <div className="actions">
          <button type="button" className="quiet" onClick={() => props.onDisconnect(s)}>
            Disconnect this session
          </button>
          <button type="button" onClick={() => props.onDisconnectUser(s.user.name)}>
            All sessions of <Shown text={s.user.name} />…
          </button>
        </div>
      )}
    </>
  );
  return props.sheet ? (
    <dialog
      ref={sheet}
      className="sheet"
      aria-labelledby="detail-title"
      onKeyDown={trapTab}
      onCancel={(e) => {
        // Escape: the page closes the sheet (and returns focus to the card it came from).
        e.preventDefault();
        props.onClose();
      }}
    >
      {body}
    </dialog>
  ) : (
    <aside className="detail" aria-labelledby="detail-title">
      {body}
    </aside>
  );
}
