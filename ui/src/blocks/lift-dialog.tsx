/**
 * The confirmation before lifting a block: who may connect again, where, what the block was and what
 * the user was told; a reason for the audit trail; then the API's answer as it is (lifted, no block in force, not allowed…).
 */
import { useId, useRef, useState, type FormEvent } from 'react';
import { gql } from '../api/graphql-client.js';
import { guarded, type Auth } from '../auth/auth.js';
import { absoluteWithZone, until } from '../format.js';
import { CloseActions, Modal, ReasonField } from '../shell/modal.js';
import { LIFT_BLOCK, type BlockRow } from './block-operations.js';
import { Shown, shownText } from '../shell/shown-text.js';

interface Outcome {
  tone: 'ok' | 'bad';
  text: string;
  /** The block is no longer in force (lifted now, or it had ended): its row leaves the list. */
  gone: boolean;
}

export function LiftDialog(props: { auth: Auth; block: BlockRow; onClose: (gone: BlockRow | null) => void }) {
  const { auth, block } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const gateway = block.gateway?.name ?? block.gatewayId;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const r = await guarded(auth, () =>
      gql(auth.token, LIFT_BLOCK, {
        input: { gatewayId: block.gatewayId, userName: block.userName, reason: reason.trim() || null },
      }),
    );
    setBusy(false);
    if (r.ok) {
      setOutcome({
        tone: 'ok',
        gone: true,
        text: `Lifted: ${shownText(block.userName)} may connect to ${gateway} again.`,
      });
    } else if (r.code === 'BLOCK_NOT_FOUND') {
      setOutcome({ tone: 'bad', gone: true, text: `Not lifted: ${r.error} (it had ended or was lifted already).` });
    } else {
      setOutcome({ tone: 'bad', gone: false, text: `Not lifted: ${r.error}` });
    }
  }

  const close = () => {
    ref.current?.close();
    props.onClose(outcome?.gone ? block : null);
  };

  return (
    <Modal dialogRef={ref} labelledBy={titleId} busy={busy} onDismiss={close}>
      <h2 id={titleId}>
        Lift the block on <Shown text={block.userName} />?
      </h2>
      <div className="impact" id={`${titleId}-impact`}>
        <p>
          <strong>
            <Shown text={block.userName} />
          </strong>{' '}
          may connect to <strong>{gateway}</strong>
          {block.gateway ? ` (${block.gateway.region})` : ''} again at once.
        </p>
        <p className="small">
          Blocked by {block.blockedBy} since {absoluteWithZone(block.blockedAt)}
          {block.reason !== null ? ` (“${block.reason}”)` : ''}; it would end by itself at{' '}
          {absoluteWithZone(block.until)}, in {until(block.until, Date.now())}.
        </p>
        <p className="small">
          {block.message === null ? 'No message was sent to the user.' : `The user was told: “${block.message}”`}
        </p>
      </div>
      {outcome === null ? (
        <form onSubmit={submit} aria-describedby={`${titleId}-impact`}>
          <ReasonField idBase={titleId} value={reason} onChange={setReason} />
          <div className="actions">
            <button type="button" onClick={close} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Lifting…' : 'Lift block'}
            </button>
          </div>
        </form>
      ) : (
        <div>
          <p role={outcome.tone === 'ok' ? 'status' : 'alert'} className={`outcome ${outcome.tone}`}>
            {outcome.text}
          </p>
          <CloseActions onClose={close} />
        </div>
      )}
    </Modal>
  );
}
