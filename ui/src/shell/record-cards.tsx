/**
 * Rows as cards at phone width (shell/use-media.ts PHONE): a list with one card per record, its head
 * line (name, badge), its facts as label/value pairs in two columns and its actions, so that nothing
 * scrolls sideways. The Sessions page's cards and the Audit, Gateways, Tokens and Blocks pages' use it;
 * the look is styles.css's `.card…` rules.
 */
import type { ReactNode } from 'react';

/** One label/value pair of a card; `field` becomes `data-field` on the value (for tests and styles). */
export interface CardFact {
  label: string;
  value: ReactNode;
  field?: string;
  mono?: boolean;
  /** A hint on the label (e.g. what the arrows of a traffic value mean). */
  hint?: string;
}

/** Attributes a card carries for its page (`data-user`, `data-block-user`…). */
export type CardData = Record<`data-${string}`, string | undefined>;

export function CardList(props: { label: string; describedBy?: string; children: ReactNode }) {
  return (
    <ul className="cards" aria-label={props.label} aria-describedby={props.describedBy}>
      {props.children}
    </ul>
  );
}

export function RecordCard(props: {
  /** The head line: the record's name (and a selection box), then its badge on the right. */
  head: ReactNode;
  facts: CardFact[];
  /** The row's actions, right-aligned under the facts; nothing when empty. */
  actions?: ReactNode;
  /** More under the actions (an opened detail). */
  children?: ReactNode;
  className?: string;
  data?: CardData;
}) {
  return (
    <li className={props.className ? `card ${props.className}` : 'card'} {...props.data}>
      <div className="card-head">{props.head}</div>
      <dl className="card-facts">
        {props.facts.map((f) => (
          <div key={f.label}>
            <dt title={f.hint}>{f.label}</dt>
            <dd className={f.mono ? 'mono' : undefined} data-field={f.field}>
              {f.value}
            </dd>
          </div>
        ))}
      </dl>
      {props.actions && <div className="card-actions">{props.actions}</div>}
      {props.children}
    </li>
  );
}
