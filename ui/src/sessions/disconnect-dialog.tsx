/**
 * The confirmation before a disconnect: what it does to whom (their VPN drops at once), the reason,
 * the message for the user, the mode and, where the gateway allows it, a block. Then the result, in
 * plain words: done, already gone, not allowed, gateway unavailable.
 */
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { ApiError, explain, gql } from '../api/graphql-client.js';
import { DISCONNECT_SESSION, DISCONNECT_SESSIONS, type DisconnectChoice, type SessionRow } from '../api/operations.js';
import { absolute, since } from '../format.js';
import type { Auth } from '../auth/auth.js';

/** One session, several chosen rows, or every online session of one user (counted by the API). */
export type DisconnectTarget = { kind: 'one'; session: SessionRow } | { kind: 'many'; sessions: SessionRow[] } | { kind: 'user'; userName: string; sessions: SessionRow[] };

interface Outcome {
  tone: 'ok' | 'warn' | 'bad';
  text: string;
}

/** The words for what happened to one session. */
export function outcomeOf(error: unknown): Outcome {
  if (error === null) return { tone: 'ok', text: 'Done: the session has ended; the client was disconnected.' };
  const code = error instanceof ApiError ? error.code : 'INTERNAL';
  if (code === 'SESSION_NOT_FOUND') return { tone: 'warn', text: 'Already gone: the session had ended before this request reached it.' };
  if (code === 'FORBIDDEN') return { tone: 'bad', text: `Not allowed: ${explain(error).replace(/^Not allowed with this token: /, '')}` };
  if (code === 'GATEWAY_UNAVAILABLE') return { tone: 'bad', text: `Gateway unavailable: ${explain(error)} The session is still online.` };
  return { tone: 'bad', text: `Failed: ${explain(error)}` };
}

export function DisconnectDialog(props: { auth: Auth; target: DisconnectTarget; onClose: (changed: boolean) => void }) {
  const { auth, target } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [choice, setChoice] = useState<DisconnectChoice>({ reason: '', message: '', mode: 'HALT', blockSeconds: null });
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const now = Date.now();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
  }, []);

  const sessions = target.kind === 'one' ? [target.session] : target.sessions;
  const blockable = sessions.some((s) => s.gateway?.mode === 'authorize');

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const common = {
      reason: choice.reason.trim() || null,
      message: choice.message.trim() || null,
      mode: choice.mode,
      blockSeconds: choice.mode === 'HALT' && blockable ? choice.blockSeconds : null,
    };
    try {
      if (target.kind === 'one') {
        try {
          await gql(auth.token, DISCONNECT_SESSION, { input: { sessionId: target.session.id, ...common } });
          setOutcome(outcomeOf(null));
        } catch (err) {
          if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') auth.signOut(explain(err));
          setOutcome(outcomeOf(err));
        }
      } else if (target.kind === 'user') {
        type Bulk = { disconnectSessions: { matched: number; ended: number; alreadyGone: number; failed: number; errors: { code: string; message: string }[] } };
        try {
          const r = await gql<Bulk>(auth.token, DISCONNECT_SESSIONS, { input: { filter: { userName: target.userName }, ...common } });
          setOutcome(summary(r.disconnectSessions));
        } catch (err) {
          setOutcome(outcomeOf(err));
        }
      } else {
        // Chosen rows: one disconnectSession each (the bulk mutation takes a filter, not a list of ids).
        const tally = { matched: sessions.length, ended: 0, alreadyGone: 0, failed: 0, errors: [] as { code: string; message: string }[] };
        for (const s of sessions) {
          try {
            await gql(auth.token, DISCONNECT_SESSION, { input: { sessionId: s.id, ...common } });
            tally.ended++;
          } catch (err) {
            const code = err instanceof ApiError ? err.code : 'INTERNAL';
            if (code === 'SESSION_NOT_FOUND') tally.alreadyGone++;
            else {
              tally.failed++;
              tally.errors.push({ code, message: outcomeOf(err).text });
            }
          }
        }
        setOutcome(summary(tally));
      }
    } finally {
      setBusy(false);
    }
  }

  const close = () => {
    ref.current?.close();
    props.onClose(outcome !== null);
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={titleId} onCancel={(e) => { e.preventDefault(); if (!busy) close(); }}>
      <h2 id={titleId}>{title(target)}</h2>
      <div className="impact" id={`${titleId}-impact`}>
        {target.kind === 'one' ? (
          <p>
            <strong>{target.session.user.name}</strong> on <strong>{target.session.gateway?.name ?? 'an unknown gateway'}</strong>
            {target.session.gateway ? ` (${target.session.gateway.region})` : ''}, connected for {since(target.session.connectedAt, now)} (since{' '}
            {absolute(target.session.connectedAt)}) from {target.session.clientAddress ?? 'an unknown address'}.
          </p>
        ) : target.kind === 'user' ? (
          <p>
            Every session of <strong>{target.userName}</strong> online now, on every gateway{target.sessions.length > 0 ? ` (${target.sessions.length} on this page)` : ''}.
          </p>
        ) : (
          <ul className="targets">
            {target.sessions.map((s) => (
              <li key={s.id}>
                <strong>{s.user.name}</strong> on {s.gateway?.name ?? 'unknown gateway'}, connected for {since(s.connectedAt, now)}
              </li>
            ))}
          </ul>
        )}
        <p className="warning">Their VPN drops at once: open connections through the tunnel break.</p>
      </div>
      {outcome === null ? (
        <form onSubmit={submit} aria-describedby={`${titleId}-impact`}>
          <label htmlFor={`${titleId}-reason`}>Reason (kept in the audit trail)</label>
          <input id={`${titleId}-reason`} name="reason" value={choice.reason} onChange={(e) => setChoice({ ...choice, reason: e.target.value })} maxLength={500} autoFocus />
          <label htmlFor={`${titleId}-message`}>Message to the user (shown by clients that support it)</label>
          <input id={`${titleId}-message`} name="message" value={choice.message} onChange={(e) => setChoice({ ...choice, message: e.target.value })} maxLength={500} />
          <fieldset>
            <legend>After the disconnect</legend>
            <label className="inline">
              <input type="radio" name="mode" value="HALT" checked={choice.mode === 'HALT'} onChange={() => setChoice({ ...choice, mode: 'HALT' })} />
              Stay down (HALT): the client is told not to reconnect
            </label>
            <label className="inline">
              <input type="radio" name="mode" value="RESTART" checked={choice.mode === 'RESTART'} onChange={() => setChoice({ ...choice, mode: 'RESTART', blockSeconds: null })} />
              May reconnect (RESTART): the client comes back as a new session
            </label>
          </fieldset>
          {blockable && choice.mode === 'HALT' && (
            <>
              <label htmlFor={`${titleId}-block`}>Block reconnection for (seconds; authorize-mode gateways only)</label>
              <input
                id={`${titleId}-block`}
                name="blockSeconds"
                type="number"
                min={1}
                max={31_536_000}
                inputMode="numeric"
                value={choice.blockSeconds ?? ''}
                onChange={(e) => setChoice({ ...choice, blockSeconds: e.target.value === '' ? null : Number(e.target.value) })}
              />
            </>
          )}
          <div className="actions">
            <button type="button" onClick={close} disabled={busy}>Cancel</button>
            <button type="submit" className="danger" disabled={busy}>{busy ? 'Disconnecting…' : target.kind === 'one' ? 'Disconnect' : 'Disconnect all'}</button>
          </div>
        </form>
      ) : (
        <div>
          <p role="status" className={`outcome ${outcome.tone}`}>{outcome.text}</p>
          <div className="actions">
            <button type="button" className="primary" onClick={close} autoFocus>Close</button>
          </div>
        </div>
      )}
    </dialog>
  );
}

function title(target: DisconnectTarget): string {
  if (target.kind === 'one') return `Disconnect ${target.session.user.name}?`;
  if (target.kind === 'user') return `Disconnect every session of ${target.userName}?`;
  return `Disconnect ${target.sessions.length} session${target.sessions.length === 1 ? '' : 's'}?`;
}

function summary(r: { matched: number; ended: number; alreadyGone: number; failed: number; errors: { code: string; message: string }[] }): Outcome {
  const parts = [`${r.ended} of ${r.matched} ended`];
  if (r.alreadyGone > 0) parts.push(`${r.alreadyGone} already gone`);
  if (r.failed > 0) parts.push(`${r.failed} failed (${[...new Set(r.errors.map((e) => e.code))].join(', ')}); those are still online`);
  if (r.matched === 0) return { tone: 'warn', text: 'Already gone: no session matched; nothing was online.' };
  return { tone: r.failed > 0 ? 'bad' : r.ended === r.matched ? 'ok' : 'warn', text: `${r.failed === 0 ? 'Done' : 'Partly done'}: ${parts.join(', ')}.` };
}
