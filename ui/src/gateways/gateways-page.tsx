/**
 * Gateways: each one's health (daemon link, daemon responding, refused reports) and since when, its
 * last error and when it began, its agent's heartbeat, sessions online. Worded so that no two cells
 * disagree: the agent's heartbeat is said of the agent, never of the daemon. A table, or cards at phone width.
 */
import { absolute, absoluteWithZone, since } from '../format.js';
import type { GatewayRow } from '../api/operations.js';
import type { Auth } from '../auth/auth.js';
import { CardList, RecordCard } from '../shell/record-cards.js';
import { PHONE, useMedia } from '../shell/use-media.js';
import { healthOf } from './gateway-health.js';
import { useGateways } from './use-gateways.js';
import { DataTable } from '../shell/data-table.js';

export function GatewaysPage({ auth }: { auth: Auth }) {
  const { gateways: rows, error, readAt: now } = useGateways(auth);
  const phone = useMedia(PHONE);

  return (
    <section aria-labelledby="gateways-title">
      <h1 id="gateways-title">Gateways</h1>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {rows === null && error === null && <p role="status">Loading gateways…</p>}
      {rows !== null && rows.length === 0 && (
        <p>No gateway is configured. Add one to the configuration file (see the README, “Gateways”).</p>
      )}
      {rows !== null &&
        rows.length > 0 &&
        (phone ? <GatewayCards rows={rows} now={now} /> : <GatewayTable rows={rows} now={now} />)}
      <p className="muted small">
        The status says whether Switchboard holds the daemon’s control link and the daemon answers its liveness probe,
        and since when that is so. The last error stays after the gateway recovers, with when it began. “Agent” is the
        agent’s heartbeat: an agent can run, and be heard, while its daemon is down or not answering.
      </p>
    </section>
  );
}

interface RowsProps {
  rows: GatewayRow[];
  now: number;
}

function Mode({ g }: { g: GatewayRow }) {
  return (
    <span
      title={
        g.mode === 'authorize'
          ? 'The agent answers every client authentication; blocks are possible'
          : 'Sessions are read from the daemon'
      }
    >
      {g.mode}
    </span>
  );
}

function Status({ g, now }: { g: GatewayRow; now: number }) {
  const health = healthOf(g);
  return (
    <>
      <span className={health.state === 'ok' ? 'badge ok' : 'badge bad'}>
        {health.state === 'ok' ? 'connected, responding' : health.label}
      </span>
      {g.statusSince !== null && (
        <div className="small" data-since>
          since <time dateTime={g.statusSince}>{absoluteWithZone(g.statusSince)}</time> ({since(g.statusSince, now)})
        </div>
      )}
      {health.state !== 'ok' && <div className="small">{health.meaning}</div>}
      {g.warning !== null && <div className="small warn-text">Warning: {g.warning}</div>}
    </>
  );
}

function LastError({ g, now }: { g: GatewayRow; now: number }) {
  if (g.lastError === null) return <span className="muted">none recorded</span>;
  return (
    <>
      {g.lastError}
      {g.lastErrorAt !== null && (
        <div className="small muted">
          <time dateTime={g.lastErrorAt}>{absoluteWithZone(g.lastErrorAt)}</time> ({since(g.lastErrorAt, now)} ago)
        </div>
      )}
    </>
  );
}

/** At phone width (shell/record-cards.tsx): a card per gateway with what the table's row says. */
function GatewayCards({ rows, now }: RowsProps) {
  return (
    <CardList label="Gateways and their health">
      {rows.map((g) => (
        <RecordCard
          key={g.id}
          data={{ 'data-gateway-id': g.id, 'data-health': healthOf(g).state }}
          head={
            <span className="card-title">
              {g.name}
              <span className="muted small block mono">{g.id}</span>
            </span>
          }
          facts={[
            { label: 'Status', value: <Status g={g} now={now} />, field: 'status' },
            { label: 'Region', value: g.region },
            { label: 'Protocol', value: g.protocol },
            { label: 'Mode', value: <Mode g={g} /> },
            { label: 'Last error', value: <LastError g={g} now={now} />, field: 'last-error' },
            { label: 'Agent', value: agentText(g, now), field: 'agent' },
            { label: 'Sessions online', value: g.sessionsOnline },
          ]}
        />
      ))}
    </CardList>
  );
}

function GatewayTable({ rows, now }: RowsProps) {
  return (
    <DataTable
      caption="Gateways and their health"
      columns={[
        'Gateway',
        'Region',
        'Protocol',
        'Mode',
        'Status',
        'Last error',
        'Agent',
        { label: 'Sessions online', numeric: true },
      ]}
    >
      <tbody>
        {rows.map((g) => (
          <tr key={g.id} data-gateway-id={g.id} data-health={healthOf(g).state}>
            <th scope="row">
              {g.name}
              <div className="muted small mono">{g.id}</div>
            </th>
            <td>{g.region}</td>
            <td>{g.protocol}</td>
            <td>
              <Mode g={g} />
            </td>
            <td className="wrap" data-status>
              <Status g={g} now={now} />
            </td>
            <td className="wrap" data-last-error>
              <LastError g={g} now={now} />
            </td>
            <td data-agent>{agentText(g, now)}</td>
            <td className="num">{g.sessionsOnline}</td>
          </tr>
        ))}
      </tbody>
    </DataTable>
  );
}

/** The server's `lastError` for an agent that fell silent (see the schema's Gateway.lastError). */
const NOT_HEARD = 'no heartbeat from its agent';
/** The server's `lastError` for an agent that said goodbye: it stopped, or a reload removed the gateway. */
const STOPPED = 'its agent stopped';

/** The agent's heartbeat, said of the agent: heard recently (even while its daemon is down), stopped or silent since when. */
function agentText(g: GatewayRow, now: number): string {
  if (g.lastSeenAt === null) return 'never heard';
  if (!g.agentConnected && g.lastError === NOT_HEARD)
    return `silent for ${since(g.lastSeenAt, now)} (since ${absolute(g.lastSeenAt)})`;
  if (!g.agentConnected && g.lastError === STOPPED)
    return `stopped ${since(g.lastSeenAt, now)} ago (at ${absolute(g.lastSeenAt)})`;
  return `running, heard ${since(g.lastSeenAt, now)} ago`;
}
