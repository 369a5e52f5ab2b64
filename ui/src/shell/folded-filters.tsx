/**
 * Filters that fold behind a toggle at phone width, so the first screen shows results rather than
 * form fields. The toggle says how many filters are applied; on wider screens it is not rendered and
 * the form is always shown.
 */
import { useState } from 'react';
import { PHONE, useMedia } from './use-media.js';

export interface FoldedFilters {
  phone: boolean;
  /** Whether the form is hidden now (phone width and folded). */
  hidden: boolean;
  open: boolean;
  toggle: () => void;
}

export function useFoldedFilters(): FoldedFilters {
  const phone = useMedia(PHONE);
  const [open, setOpen] = useState(false);
  return { phone, hidden: phone && !open, open, toggle: () => setOpen((o) => !o) };
}

/** The phone's "Filters" button for the form with id `controls`; nothing on wider screens. */
export function FiltersToggle({
  folded,
  controls,
  active,
}: {
  folded: FoldedFilters;
  controls: string;
  active: number;
}) {
  if (!folded.phone) return null;
  return (
    <button
      type="button"
      className="filters-toggle"
      aria-expanded={folded.open}
      aria-controls={controls}
      onClick={folded.toggle}
    >
      Filters
      {active > 0 && <span className="count">{active} active</span>}
      <span aria-hidden="true" className="chevron">
        {folded.open ? '▴' : '▾'}
      </span>
    </button>
  );
}
