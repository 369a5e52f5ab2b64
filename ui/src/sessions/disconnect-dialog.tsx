/**
 * The confirmation before a disconnect: what it does to whom (their VPN drops at once), the reason,
 * the message for the user, the mode and, where the gateway allows it, a block. Then the result, in
 * plain words: done, already gone, not allowed, gateway unavailable.
 */
import { useId, useRef, useState, type FormEvent } from 'react';
import { ApiError, explain, gql } from '../api/graphql-client.js';
import {
  DISCONNECT_SESSION,
  DISCONNECT_SESSIONS,
  type BulkDisconnectOutcome,
  type BulkResult,
  type DisconnectChoice,
  type SessionRow,
} from '../api/operations.js';
import { healthOf, type Health } from '../gateways/gateway-health.js';
import { absolute, since } from '../format.js';
import { BlockDurationField } from './block-duration-field.js';
import { blockSecondsOf, type BlockChoice } from './block-duration.js';
import type { Auth } from '../auth/auth.js';
import { CloseActions, Modal, ReasonField } from '../shell/modal.js';
import { Shown, shownText } from '../shell/shown-text.js';

/** One session, several chosen rows, or every online session of one user (counted by the API). */
export type DisconnectTarget =
  | { kind: 'one'; session: SessionRow }
  | { kind: 'many'; sessions: SessionRow[] }
  | { kind: 'user'; userName: string; sessions: SessionRow[] };

interface Outcome {
  tone: 'ok' | 'warn' | 'bad';
  text: string;
}

/** The words for what happened to one session: the API's outcome as it is, said once. */
export function outcomeOf(error: unknown): Outcome {
  if (error === null) return { tone: 'ok', text: 'Done: the session has ended; the client was disconnected.' };
  const code = error instanceof ApiError ? error.code : 'INTERNAL';
  if (code === 'SESSION_NOT_FOUND')
    return { tone: 'warn', text: 'Already gone: the session had ended before this request reached it.' };
  if (code === 'FORBIDDEN')
    return { tone: 'bad', text: `Not allowed: ${explain(error).replace(/^Not allowed with this token: /, '')}` };
  if (code === 'GATEWAY_UNAVAILABLE' && error instanceof ApiError && error.disconnect === 'NOT_SENT') {
    return {
      tone: 'bad',
      text: 'Not sent: the gateway could not be reached, so nothing was done. The session is still online.',
    };
  }
  if (code === 'GATEWAY_UNAVAILABLE') {
    return {
      tone: 'warn',
      text: 'Not confirmed yet: the gateway did not confirm in time. The disconnect may still take effect; the audit trail records it when it does.',
    };
  }
  return { tone: 'bad', text: `Failed: ${explain(error)}` };
}

/** Words for each outcome of a bulk disconnect's sessions. */
const BULK_WORDS: Record<BulkDisconnectOutcome, string> = {
  ENDED: 'ended',
  ALREADY_GONE: 'already gone',
  NOT_SENT: 'not sent, still online',
  UNCONFIRMED: 'not confirmed yet, may still take effect',
  FAILED: 'failed',
};

export function DisconnectDialog(props: {
  auth: Auth;
  target: DisconnectTarget;
  health: Map<string, Health>;
  onClose: (changed: boolean) => void;
}) {
  const { auth, target } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [choice, setChoice] = useState<Omit<DisconnectChoice, 'blockSeconds'>>({
    reason: '',
    message: '',
    mode: 'HALT',
  });
  const [block, setBlock] = useState<BlockChoice>({ kind: 'none' });
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [results, setResults] = useState<BulkResult['results']>([]);
  const now = Date.now();

  const sessions = target.kind === 'one' ? [target.session] : target.sessions;
  const blockable = sessions.some((s) => s.gateway?.mode === 'authorize');
  // What an unhealthy gateway will make of this disconnect, said before it is sent.
  const healthOfRow = (g: NonNullable<SessionRow['gateway']>) => props.health.get(g.id) ?? healthOf(g);
  const warnings = [
    ...new Map(
      sessions
        .filter((s) => s.gateway !== null && healthOfRow(s.gateway).disconnect !== null)
        .map((s) => [s.gateway!.id, s.gateway!]),
    ).values(),
  ].map((g) => `${g.name}: ${healthOfRow(g).label}. ${healthOfRow(g).disconnect}`);
  const unconfirmed = sessions.filter((s) => !s.confirmed).length;
  const byId = new Map(sessions.map((s) => [s.id, s]));

  const blockSeconds = choice.mode === 'HALT' && blockable ? blockSecondsOf(block) : null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (typeof blockSeconds === 'object' && blockSeconds !== null) return;
    setBusy(true);
    const common = {
      reason: choice.reason.trim() || null,
      message: choice.message.trim() || null,
      mode: choice.mode,
      blockSeconds,
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
      } else {
        // One API call either way: a user's sessions by filter, chosen rows by their ids.
        const selector =
          target.kind === 'user'
            ? { filter: { userName: target.userName } }
            : { sessionIds: target.sessions.map((s) => s.id) };
        try {
          const r = await gql<{ disconnectSessions: BulkResult }>(auth.token, DISCONNECT_SESSIONS, {
            input: { ...selector, ...common },
          });
          setOutcome(summary(r.disconnectSessions));
          setResults(r.disconnectSessions.results);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') auth.signOut(explain(err));
          setOutcome(outcomeOf(err));
        }
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
    <Modal dialogRef={ref} labelledBy={titleId} busy={busy} onDismiss={close}>
      <h2 id={titleId}>{title(target)}</h2>
      <div className="impact" id={`${titleId}-impact`}>
        {target.kind === 'one' ? (
          <p>
            <strong>
              <Shown text={target.session.user.name} />
            </strong>{' '}
            on <strong>{target.session.gateway?.name ?? 'an unknown gateway'}</strong>
            {target.session.gateway ? ` (${target.session.gateway.region})` : ''}, connected for{' '}
            {since(target.session.connectedAt, now)} (since {absolute(target.session.connectedAt)}) from{' '}
            {target.session.clientAddress ?? 'an unknown address'}.
          </p>
        ) : target.kind === 'user' ? (
          <p>
            Every session of{' '}
            <strong>
              <Shown text={target.userName} />
            </strong>{' '}
            online now, on every gateway
            {target.sessions.length > 0 ? ` (${target.sessions.length} on this page)` : ''}.
          </p>
        ) : (
          <ul className="targets">
            {target.sessions.map((s) => (
              <li key={s.id}>
                <strong>
                  <Shown text={s.user.name} />
                </strong>{' '}
                on {s.gateway?.name ?? 'unknown gateway'}, connected for {since(s.connectedAt, now)}
              </li>
            ))}
          </ul>
        )}
        <p className="warning">Their VPN drops at once: open connections through the tunnel break.</p>
        {warnings.map((w) => (
          <p key={w} className="outcome warn">
            {w}
          </p>
        ))}
        {unconfirmed > 0 && warnings.length === 0 && (
          <p className="outcome warn">
            {unconfirmed === 1 && target.kind === 'one' ? 'This session is' : `${unconfirmed} of these sessions are`}{' '}
            not confirmed by its gateway: it may have ended already.
          </p>
        )}
      </div>
      {outcome === null ? (
        <form onSubmit={submit} aria-describedby={`${titleId}-impact`}>
          <ReasonField idBase={titleId} value={choice.reason} onChange={(reason) => setChoice({ ...choice, reason })} />
          <label htmlFor={`${titleId}-message`}>Message to the user (shown by clients that support it)</label>
          <input
            id={`${titleId}-message`}
            name="message"
            value={choice.message}
            onChange={(e) => setChoice({ ...choice, message: e.target.value })}
            maxLength={500}
          />
          <fieldset>
            <legend>After the disconnect</legend>
            <label className="inline">
              <input
                type="radio"
                name="mode"
                value="HALT"
                checked={choice.mode === 'HALT'}
                onChange={() => setChoice({ ...choice, mode: 'HALT' })}
              />
              Stay down (HALT): the client is told not to reconnect
            </label>
            <label className="inline">
              <input
                type="radio"
                name="mode"
                value="RESTART"
                checked={choice.mode === 'RESTART'}
                onChange={() => setChoice({ ...choice, mode: 'RESTART' })}
              />
              May reconnect (RESTART): the client comes back as a new session
            </label>
          </fieldset>
          {blockable && choice.mode === 'HALT' && (
            <BlockDurationField idBase={`${titleId}-block`} choice={block} onChange={setBlock} />
          )}
          {busy && target.kind !== 'one' && (
            <p role="status" className="progress">
              <progress aria-label="Disconnecting" /> Disconnecting{' '}
              {target.kind === 'user'
                ? `every session of ${shownText(target.userName)}`
                : `${sessions.length} sessions`}
              , all at once…
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={close} disabled={busy}>
              Cancel
            </button>
            <button
              type="submit"
              className="danger"
              disabled={busy || (typeof blockSeconds === 'object' && blockSeconds !== null)}
            >
              {busy ? 'Disconnecting…' : target.kind === 'one' ? 'Disconnect' : 'Disconnect all'}
            </button>
          </div>
        </form>
      ) : (
        <div>
          <p role="status" className={`outcome ${outcome.tone}`}>
            {outcome.text}
          </p>
          {results.length > 0 && (
            <ul className="targets results" aria-label="Result for each session">
              {results.map((r) => (
                <li key={r.sessionId} data-outcome={r.outcome}>
                  {byId.get(r.sessionId)?.user.name ?? 'a session'} <span className="mono small">{r.sessionId}</span>:{' '}
                  {BULK_WORDS[r.outcome]}
                </li>
              ))}
            </ul>
          )}
          <CloseActions onClose={close} />
        </div>
      )}
    </Modal>
  );
}

function title(target: DisconnectTarget): string {
  if (target.kind === 'one') return `Disconnect ${shownText(target.session.user.name)}?`;
  if (target.kind === 'user') return `Disconnect every session of ${shownText(target.userName)}?`;
  return `Disconnect ${target.sessions.length} session${target.sessions.length === 1 ? '' : 's'}?`;
}

/** The counts, in words that match the per-session list: nothing is called "failed" that may still happen. */
function summary(r: BulkResult): Outcome {
  if (r.matched === 0) return { tone: 'warn', text: 'Already gone: no session matched; nothing was online.' };
  const count = (o: BulkDisconnectOutcome) => r.results.filter((x) => x.outcome === o).length;
  const parts = [`${r.ended} of ${r.matched} ended`];
  if (r.alreadyGone > 0) parts.push(`${r.alreadyGone} already gone`);
  if (count('NOT_SENT') > 0) parts.push(`${count('NOT_SENT')} not sent (still online)`);
  if (count('UNCONFIRMED') > 0) parts.push(`${count('UNCONFIRMED')} not confirmed yet (may still take effect)`);
  if (count('FAILED') > 0) parts.push(`${count('FAILED')} failed`);
  const head = r.failed === 0 ? 'Done' : r.ended + r.alreadyGone === 0 ? 'Not done' : 'Partly done';
  return { tone: r.failed > 0 ? 'bad' : r.ended === r.matched ? 'ok' : 'warn', text: `${head}: ${parts.join(', ')}.` };
}
