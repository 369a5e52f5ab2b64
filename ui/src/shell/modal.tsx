/**
 * The console's confirmation dialogs share this shell: a native modal `<dialog>` (focus moves into it,
 * the page behind is inert) opened on mount, Escape dismissing it unless an action is running, and
 * the Close button that follows an answer.
 */
import { useEffect, type ReactNode, type RefObject } from 'react';

export function Modal(props: {
  /** The parent's ref: it closes the dialog (and so returns focus) before it unmounts it. */
  dialogRef: RefObject<HTMLDialogElement | null>;
  labelledBy: string;
  busy: boolean;
  onDismiss: () => void;
  children: ReactNode;
}) {
  const { dialogRef } = props;
  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
  }, [dialogRef]);
  return (
    <dialog
      ref={dialogRef}
      className="dialog"
      aria-labelledby={props.labelledBy}
      onCancel={(e) => {
        e.preventDefault();
        if (!props.busy) props.onDismiss();
      }}
    >
      {props.children}
    </dialog>
  );
}

/** After an answer: one button, focused, that closes the dialog. */
export function CloseActions({ onClose }: { onClose: () => void }) {
  return (
    <div className="actions">
      <button type="button" className="primary" onClick={onClose} autoFocus>
        Close
      </button>
    </div>
  );
}

/** The first field of a confirmation, focused when it opens: why, for the audit trail. */
export function ReasonField(props: { idBase: string; value: string; onChange: (value: string) => void }) {
  return (
    <>
      <label htmlFor={`${props.idBase}-reason`}>Reason (kept in the audit trail)</label>
      <input
        id={`${props.idBase}-reason`}
        name="reason"
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        maxLength={500}
        autoFocus
      />
    </>
  );
}
