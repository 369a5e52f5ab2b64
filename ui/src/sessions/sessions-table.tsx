/** The online sessions table (TanStack Table, headless: the markup and its labels are ours). */
import {
  createColumnHelper,
  flexRender,
  getCoreRowModel,
  useReactTable,
  type RowSelectionState,
} from '@tanstack/react-table';
import { useMemo } from 'react';
import type { SessionRow } from '../api/operations.js';
import { absolute, bytes, since } from '../format.js';
import type { Health } from '../gateways/gateway-health.js';
import { protocolText, statusOf, STATUS_WORDS } from './row-status.js';
import type { SessionSort, SortField } from './sessions-view.js';

/** The columns the API can sort by (so paging stays right). */
const SORTABLE: Record<string, SortField> = {
  user: 'USER',
  gateway: 'GATEWAY',
  since: 'CONNECTED_AT',
  traffic: 'TRAFFIC',
};
import type { LiveRow } from './use-live-sessions.js';
import { HistoryLink } from '../history/history-link.js';
import { Shown, shownText } from '../shell/shown-text.js';

const col = createColumnHelper<LiveRow>();

export interface SessionsTableProps {
  rows: LiveRow[];
  now: number;
  /** Each gateway's health by id, as last read. */
  health: Map<string, Health>;
  sort: SessionSort;
  onSort(field: SortField): void;
  canDisconnect: boolean;
  selection: RowSelectionState;
  onSelectionChange(next: RowSelectionState): void;
  onOpen(session: SessionRow): void;
  onDisconnect(session: SessionRow): void;
  openId: string | null;
}

export function SessionsTable(props: SessionsTableProps) {
  const { now, health, canDisconnect, onOpen, onDisconnect } = props;
  const columns = useMemo(() => {
    const select = col.display({
      id: 'select',
      header: ({ table }) => (
        <input
          type="checkbox"
          aria-label="Select every session on this page"
          checked={table.getIsAllRowsSelected()}
          ref={(el) => {
            if (el) el.indeterminate = table.getIsSomeRowsSelected();
          }}
          onChange={table.getToggleAllRowsSelectedHandler()}
        />
      ),
      cell: ({ row }) => (
        <input
          type="checkbox"
          aria-label={`Select ${shownText(row.original.session.user.name)}'s session ${row.original.session.id}`}
          checked={row.getIsSelected()}
          disabled={!row.getCanSelect()}
          onChange={row.getToggleSelectedHandler()}
        />
      ),
    });
    const rest = [
      col.accessor((r) => r.session.user.name, {
        id: 'user',
        header: 'User',
        cell: (c) => (
          <button
            type="button"
            className="link"
            onClick={() => onOpen(c.row.original.session)}
            aria-label={`Details of ${shownText(c.getValue())}'s session on ${c.row.original.session.gateway?.name ?? 'unknown gateway'}`}
          >
            <Shown text={c.getValue()} />
          </button>
        ),
      }),
      // A display column: an accessor's value is cached per row, and health changes without the rows changing.
      col.display({
        id: 'status',
        header: 'Status',
        cell: (c) => {
          const status = statusOf(c.row.original.session, health);
          return (
            <span className={`badge ${status === 'live' ? 'ok' : 'bad'}`} data-status={status}>
              {STATUS_WORDS[status]}
            </span>
          );
        },
      }),
      col.accessor((r) => r.session.gateway?.name ?? r.session.gateway?.id ?? '—', {
        id: 'gateway',
        header: 'Gateway',
      }),
      col.accessor((r) => r.session.gateway?.region ?? '—', { id: 'region', header: 'Region' }),
      col.accessor((r) => protocolText(r.session), { id: 'protocol', header: 'Protocol' }),
      col.accessor((r) => r.session.clientAddress ?? '—', {
        id: 'client',
        header: 'Client address',
        cell: (c) => (
          <span className="mono">
            {c.row.original.session.clientAddress === null ? (
              c.getValue()
            ) : (
              <HistoryLink address={c.getValue()} label={`History of address ${c.getValue()}`}>
                {c.getValue()}
              </HistoryLink>
            )}
          </span>
        ),
      }),
      col.accessor((r) => r.session.virtualAddress ?? r.session.virtualAddress6 ?? '—', {
        id: 'virtual',
        header: 'Virtual address',
        cell: (c) => <span className="mono">{c.getValue()}</span>,
      }),
      col.accessor((r) => r.session.connectedAt, {
        id: 'since',
        header: 'Connected since',
        cell: (c) => (
          <time dateTime={c.getValue()} title={absolute(c.getValue())}>
            {since(c.getValue(), now)}
            <span className="muted small block">{absolute(c.getValue())}</span>
          </time>
        ),
      }),
      col.accessor((r) => r.session.bytesReceived + r.session.bytesSent, {
        id: 'traffic',
        header: () => <span title="↑ received from the client, ↓ sent to the client">Traffic</span>,
        cell: (c) => (
          <span>
            <span aria-label={`received ${bytes(c.row.original.session.bytesReceived)}`}>
              ↑ {bytes(c.row.original.session.bytesReceived)}
            </span>
            <span className="block" aria-label={`sent ${bytes(c.row.original.session.bytesSent)}`}>
              ↓ {bytes(c.row.original.session.bytesSent)}
            </span>
          </span>
        ),
      }),
      col.display({
        id: 'actions',
        header: () => <span className="sr-only">Actions</span>,
        cell: (c) =>
          canDisconnect && c.row.original.state !== 'leaving' ? (
            <button
              type="button"
              className="quiet small"
              onClick={() => onDisconnect(c.row.original.session)}
              aria-label={`Disconnect ${shownText(c.row.original.session.user.name)} (${c.row.original.session.id})`}
            >
              Disconnect
            </button>
          ) : null,
      }),
    ];
    // A token that may not disconnect gets neither the checkboxes nor the actions column.
    return canDisconnect ? [select, ...rest] : rest.filter((c) => c.id !== 'actions');
  }, [now, health, canDisconnect, onOpen, onDisconnect]);

  const table = useReactTable({
    data: props.rows,
    columns,
    getRowId: (r) => r.session.id,
    getCoreRowModel: getCoreRowModel(),
    enableRowSelection: (row) => canDisconnect && row.original.state !== 'leaving',
    state: { rowSelection: props.selection },
    onRowSelectionChange: (updater) =>
      props.onSelectionChange(typeof updater === 'function' ? updater(props.selection) : updater),
  });

  return (
    <div className="table-wrap">
      <table className="data" aria-label="Online sessions" aria-describedby="sessions-summary">
        <thead>
          {table.getHeaderGroups().map((g) => (
            <tr key={g.id}>
              {g.headers.map((h) => {
                const field = SORTABLE[h.id];
                const sorted = field !== undefined && props.sort.field === field ? props.sort.direction : null;
                const label = h.isPlaceholder ? null : flexRender(h.column.columnDef.header, h.getContext());
                return (
                  <th
                    key={h.id}
                    scope="col"
                    className={h.id === 'traffic' ? 'num' : undefined}
                    aria-sort={sorted === 'ASC' ? 'ascending' : sorted === 'DESC' ? 'descending' : undefined}
                  >
                    {field === undefined ? (
                      label
                    ) : (
                      <button type="button" className="sort" onClick={() => props.onSort(field)}>
                        {label}
                        <span aria-hidden="true" className="sort-mark">
                          {sorted === 'ASC' ? ' ▲' : sorted === 'DESC' ? ' ▼' : ' ↕'}
                        </span>
                      </button>
                    )}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody aria-live="off">
          {table.getRowModel().rows.map((row) => (
            <tr
              key={row.id}
              data-session-id={row.id}
              data-user={row.original.session.user.name}
              data-state={row.original.state}
              className={`row-${row.original.state}${props.openId === row.id ? ' row-open' : ''}`}
              aria-selected={row.getIsSelected() || undefined}
            >
              {row.getVisibleCells().map((cell) => (
                <td
                  key={cell.id}
                  className={
                    cell.column.id === 'traffic' ? 'num' : cell.column.id === 'actions' ? 'actions-cell' : undefined
                  }
                >
                  {flexRender(cell.column.columnDef.cell, cell.getContext())}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
