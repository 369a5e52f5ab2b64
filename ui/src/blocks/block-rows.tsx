/**
 * The blocks in force as a table, or at phone width as cards (shell/record-cards.tsx): the same cells
 * and the same Lift… button (`data-lift`, which the page finds to put the focus back after the dialog).
 */
import { absoluteWithZone, since, until } from '../format.js';
import { CardList, RecordCard } from '../shell/record-cards.js';
import type { BlockRow } from './block-operations.js';
import { DataTable } from '../shell/data-table.js';
import { Shown, shownText } from '../shell/shown-text.js';

export const keyOf = (b: Pick<BlockRow, 'gatewayId' | 'userName'>) => `${b.gatewayId}\u0000${b.userName}`;

interface BlockRowsProps {
  blocks: BlockRow[];
  now: number;
  phone: boolean;
  /** Opens the Lift dialog for a block; null for tokens that may not lift. */
  lift: ((b: BlockRow, button: HTMLButtonElement) => void) | null;
}

export function BlockRows(props: BlockRowsProps) {
  return props.phone ? <BlockCards {...props} /> : <BlockTable {...props} />;
}

function Gateway({ b }: { b: BlockRow }) {
  return (
    <>
      {b.gateway?.name ?? 'unknown gateway'}
      <div className="muted small mono">
        {b.gatewayId}
        {b.gateway ? ` · ${b.gateway.region}` : ''}
      </div>
    </>
  );
}

function Since({ b, now }: { b: BlockRow; now: number }) {
  return (
    <>
      <time dateTime={b.blockedAt}>{absoluteWithZone(b.blockedAt)}</time>
      <div className="muted small">{since(b.blockedAt, now)} ago</div>
    </>
  );
}

function Until({ b, now }: { b: BlockRow; now: number }) {
  return (
    <>
      <time dateTime={b.until}>{absoluteWithZone(b.until)}</time>
      <div className="small" data-remaining>
        {Date.parse(b.until) <= now ? 'ended, leaves this list at the next read' : `${until(b.until, now)} left`}
      </div>
    </>
  );
}

function SetBy({ b }: { b: BlockRow }) {
  return (
    <>
      {b.blockedBy}
      {b.reason !== null && <div className="small">“{b.reason}”</div>}
      {b.sessionId !== null && <div className="muted small mono">from {b.sessionId}</div>}
    </>
  );
}

function Message({ b }: { b: BlockRow }) {
  return b.message === null ? <span className="muted">none sent</span> : <>“{b.message}”</>;
}

function LiftButton({ b, lift }: { b: BlockRow; lift: NonNullable<BlockRowsProps['lift']> }) {
  return (
    <button
      type="button"
      className="danger-quiet small"
      data-lift
      aria-label={`Lift the block on ${shownText(b.userName)} at ${b.gateway?.name ?? b.gatewayId}…`}
      onClick={(e) => lift(b, e.currentTarget)}
    >
      Lift…
    </button>
  );
}

function BlockCards({ blocks, now, lift }: BlockRowsProps) {
  return (
    <CardList label="Blocks in force">
      {blocks.map((b) => (
        <RecordCard
          key={keyOf(b)}
          data={{ 'data-block-user': b.userName, 'data-gateway-id': b.gatewayId }}
          head={
            <span className="card-title">
              <Shown text={b.userName} />
            </span>
          }
          facts={[
            { label: 'Gateway', value: <Gateway b={b} /> },
            { label: 'Blocked since', value: <Since b={b} now={now} /> },
            { label: 'Until', value: <Until b={b} now={now} />, field: 'until' },
            { label: 'Set by, reason', value: <SetBy b={b} /> },
            { label: 'Message to the user', value: <Message b={b} />, field: 'message' },
          ]}
          actions={lift && <LiftButton b={b} lift={lift} />}
        />
      ))}
    </CardList>
  );
}

function BlockTable({ blocks, now, lift }: BlockRowsProps) {
  return (
    <DataTable
      labelledBy="blocks-title"
      columns={[
        'User',
        'Gateway',
        'Blocked since',
        'Until',
        'Set by, reason',
        'Message to the user',
        !!lift && { label: 'Actions', hidden: true },
      ]}
    >
      <tbody>
        {blocks.map((b) => (
          <tr key={keyOf(b)} data-block-user={b.userName} data-gateway-id={b.gatewayId}>
            <th scope="row">
              <Shown text={b.userName} />
            </th>
            <td>
              <Gateway b={b} />
            </td>
            <td>
              <Since b={b} now={now} />
            </td>
            <td data-until>
              <Until b={b} now={now} />
            </td>
            <td className="wrap">
              <SetBy b={b} />
            </td>
            <td className="wrap" data-field="message">
              <Message b={b} />
            </td>
            {lift && (
              <td>
                <LiftButton b={b} lift={lift} />
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </DataTable>
  );
}
