/**
 * Blocks: every user denied reconnects right now (a disconnect's block), on which gateway, since
 * when, until when (local time with its zone, and what remains), who set it, why and what the user was
 * told; re-read every 5 s. A table, or cards at phone width (block-rows.tsx). *Lift…* (for tokens with `sessions:disconnect`) asks first, then says what the API answered.
 */
import { useEffect, useRef, useState } from 'react';
import { gql } from '../api/graphql-client.js';
import { guarded, type Auth } from '../auth/auth.js';
import { can } from '../auth/scopes.js';
import { zoneName } from '../format.js';
import { PHONE, useMedia } from '../shell/use-media.js';
import { usePoll } from '../shell/use-poll.js';
import { BLOCKS, type BlockRow } from './block-operations.js';
import { BlockRows, keyOf } from './block-rows.js';
import { LiftDialog } from './lift-dialog.js';
import './blocks.css';

export const BLOCKS_POLL_MS = 5000;

export function BlocksPage({ auth }: { auth: Auth }) {
  const [blocks, setBlocks] = useState<BlockRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [lifting, setLifting] = useState<BlockRow | null>(null);
  const [now, setNow] = useState(Date.now);
  const heading = useRef<HTMLHeadingElement>(null);
  const opener = useRef<HTMLButtonElement | null>(null);
  const mayLift = can(auth.viewer.scopes, 'sessions:disconnect');
  const phone = useMedia(PHONE);

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

  const lift = (b: BlockRow, button: HTMLButtonElement) => {
    opener.current = button;
    setLifting(b);
  };

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
        <BlockRows blocks={blocks} now={now} phone={phone} lift={mayLift ? lift : null} />
      )}
      {lifting !== null && <LiftDialog auth={auth} block={lifting} onClose={closed} />}
    </section>
  );
}
