/**
 * Keeps Tab inside a modal dialog. `showModal()` makes the page under it inert, but Tab past the
 * dialog's last control still leaves the document (for the browser's own controls); this wraps it
 * round to the first control instead, and Shift+Tab from the first (or from the dialog's heading) to
 * the last.
 */
import type { KeyboardEvent } from 'react';

const FOCUSABLE =
  'a[href], button:not(:disabled), input:not(:disabled), select:not(:disabled), textarea:not(:disabled)';

export function trapTab(e: KeyboardEvent<HTMLElement>): void {
  if (e.key !== 'Tab') return;
  const controls = [...e.currentTarget.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
    (el) => el.offsetParent !== null,
  );
  const first = controls[0];
  const last = controls[controls.length - 1];
  if (first === undefined || last === undefined) return;
  const active = document.activeElement;
  const onControl = controls.some((c) => c === active);
  if (e.shiftKey ? active === first || !onControl : active === last) {
    e.preventDefault();
    (e.shiftKey ? last : first).focus();
  }
}
