/**
 * The console's tables (History, Audit, Blocks, Gateways, Tokens): a scrolling wrapper, the table's
 * accessible name, one header row of column headings, and the caller's `<tbody>`.
 */
import type { ReactNode } from 'react';

/** A heading's text; `hidden`: read by screen readers only (a column of buttons); `numeric`: right-aligned. */
export type Heading = string | { label: string; hidden?: boolean; numeric?: boolean };

export function DataTable(props: {
  /** The table's name: `aria-label`, the id of a visible heading, or a caption read by screen readers. */
  label?: string;
  labelledBy?: string;
  caption?: string;
  /** The headings in order; `false` leaves a column out (an action the token may not take). */
  columns: (Heading | false)[];
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="data" aria-label={props.label} aria-labelledby={props.labelledBy}>
        {props.caption !== undefined && <caption className="sr-only">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c, i) => {
              if (c === false) return null;
              const h = typeof c === 'string' ? { label: c } : c;
              return (
                <th key={i} scope="col" className={h.numeric ? 'num' : undefined}>
                  {h.hidden ? <span className="sr-only">{h.label}</span> : h.label}
                </th>
              );
            })}
          </tr>
        </thead>
        {props.children}
      </table>
    </div>
  );
}
