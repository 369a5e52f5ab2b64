/**
 * Blocks: every user denied reconnects right now (a disconnect's block), on which gateway, since
 * when, until when (local time with its zone, and what remains), who set it and why; re-read every
 * 5 s. *Lift…* (for tokens with `sessions:disconnect`) asks first, then says what the API answered.
 */
import { useEffect, useRef, useState } from 'react';
import { gql } from '../api/graphql-client.js';
import { guarded, type Auth } from '../auth/auth.js';
import { can } from '../auth/scopes.js';
import { absoluteWithZone, since, until, zoneName } from '../format.js';
import { usePoll } from '../shell/use-poll.js';
import { BLOCKS, type BlockRow } from './block-operations.js';
import { LiftDialog } from './lift-dialog.js';
import './blocks.css';

export const BLOCKS_POLL_MS = 5000;

const keyOf = (b: Pick<BlockRow, 'gatewayId' | 'userName'>) => `${b.gatewayId}\u0000${b.userName}`;

export function BlocksPage({ auth }: { auth: Auth }) {
  const [blocks, setBlocks] = useState<BlockRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [lifting, setLifting] = useState<BlockRow | null>(null);
  const [now, setNow] = useState(Date.now);
  const heading = useRef<HTMLHeadingElement>(null);
  const opener = useRef<HTMLButtonElement | null>(null);
  const mayLift = can(auth.viewer.scopes, 'sessions:disconnect');

  const reload = async () => {
    const r = await guarded(auth, () => gql<{ blocks: BlockRow[] }>(auth.token, BLOCKS));
    if (r.ok) {
      setBlocks(r.value.blocks);
      setError(null);
    } else setError(r.error);
  };
  usePoll(reload, BLOCKS_POLL_MS, [auth.token]);
  // What remains counts down between reads.
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  /** After the dialog: back to the button that opened it, or, if its row is gone, to its neighbour. */
  function closed(lifted: BlockRow | null) {
    setLifting(null);
    const buttons = [...document.querySelectorAll<HTMLButtonElement>('button[data-lift]')];
    const at = opener.current === null ? -1 : buttons.indexOf(opener.current);
    const target =
      lifted === null
        ? opener.current
        : (buttons[at + 1] ?? buttons[at - 1] ?? (buttons.length > 1 ? buttons[0] : null) ?? heading.current);
    if (lifted !== null) setBlocks((rows) => rows?.filter((b) => keyOf(b) !== keyOf(lifted)) ?? null);
    (target ?? heading.current)?.focus();
    if (lifted !== null) void reload();
  }

  return (
    <section aria-labelledby="blocks-title" className="blocks-page">
      <h1 id="blocks-title" ref={heading} tabIndex={-1}>
        Blocks in force
      </h1>
      <p className="muted small">
        Users denied reconnects after a disconnect with a block (authorize-mode gateways). A block ends by itself at its
        time; expired and lifted ones leave this list (the audit trail keeps them). Times are in {zoneName()}; re-read
        every {BLOCKS_POLL_MS / 1000} s.
        {!mayLift && ' Lifting a block needs a token with sessions:disconnect.'}
      </p>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {blocks === null && error === null && <p role="status">Loading blocks…</p>}
      {blocks !== null && blocks.length === 0 && <p data-empty>No user is blocked right now.</p>}
      {blocks !== null && blocks.length > 0 && (
        <div className="table-wrap">
          <table className="data" aria-labelledby="blocks-title">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Gateway</th>
                <th scope="col">Blocked since</th>
                <th scope="col">Until</th>
                <th scope="col">Set by, reason</th>
                {mayLift && (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {blocks.map((b) => {
                const over = Date.parse(b.until) <= now;
                return (
                  <tr key={keyOf(b)} data-block-user={b.userName} data-gateway-id={b.gatewayId}>
                    <th scope="row">{b.userName}</th>
                    <td>
                      {b.gateway?.name ?? 'unknown gateway'}
                      <div className="muted small mono">
                        {b.gatewayId}
                        {b.gateway ? ` · ${b.gateway.region}` : ''}
                      </div>
                    </td>
                    <td>
                      <time dateTime={b.blockedAt}>{absoluteWithZone(b.blockedAt)}</time>
                      <div className="muted small">{since(b.blockedAt, now)} ago</div>
                    </td>
                    <td data-until>
                      <time dateTime={b.until}>{absoluteWithZone(b.until)}</time>
                      <div className="small" data-remaining>
                        {over ? 'ended, leaves this list at the next read' : `${until(b.until, now)} left`}
                      </div>
                    </td>
                    <td className="wrap">
                      {b.blockedBy}
                      {b.reason !== null && <div className="small">“{b.reason}”</div>}
                      {b.sessionId !== null && <div className="muted small mono">from {b.sessionId}</div>}
                    </td>
                    {mayLift && (
                      <td>
                        <button
                          type="button"
                          className="danger-quiet small"
                          data-lift
                          aria-label={`Lift the block on ${b.userName} at ${b.gateway?.name ?? b.gatewayId}…`}
                          onClick={(e) => {
                            opener.current = e.currentTarget;
                            setLifting(b);
                          }}
                        >
                          Lift…
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {lifting !== null && <LiftDialog auth={auth} block={lifting} onClose={closed} />}
    </section>
  );
}
