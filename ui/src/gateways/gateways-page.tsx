/** Gateways: each one's status, whether its agent holds the daemon's control connection, sessions online. */
import { useState } from 'react';
import { gql } from '../api/graphql-client.js';
import { GATEWAYS, type GatewayRow } from '../api/operations.js';
import { absolute, since } from '../format.js';
import { guarded, type Auth } from '../auth/auth.js';
import { usePoll } from '../shell/use-poll.js';

export function GatewaysPage({ auth }: { auth: Auth }) {
  const [rows, setRows] = useState<GatewayRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());

  usePoll(async () => {
    const r = await guarded(auth, () => gql<{ gateways: GatewayRow[] }>(auth.token, GATEWAYS));
    setNow(Date.now());
    if (r.ok) {
      setRows(r.value.gateways);
      setError(null);
    } else setError(r.error);
  }, 5000, [auth.token]);

  return (
    <section aria-labelledby="gateways-title">
      <h1 id="gateways-title">Gateways</h1>
      {error !== null && <p role="alert" className="error">{error}</p>}
      {rows === null && error === null && <p role="status">Loading gateways…</p>}
      {rows !== null && rows.length === 0 && <p>No gateway is configured. Add one to the configuration file (see the README, “Gateways”).</p>}
      {rows !== null && rows.length > 0 && (
        <div className="table-wrap">
          <table className="data">
            <caption className="sr-only">Gateways and their agents</caption>
            <thead>
              <tr>
                <th scope="col">Gateway</th>
                <th scope="col">Region</th>
                <th scope="col">Protocol</th>
                <th scope="col">Mode</th>
                <th scope="col">Agent</th>
                <th scope="col">Last heard</th>
                <th scope="col" className="num">Sessions online</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((g) => (
                <tr key={g.id} data-gateway-id={g.id}>
                  <th scope="row">
                    {g.name}
                    <div className="muted small mono">{g.id}</div>
                  </th>
                  <td>{g.region}</td>
                  <td>{g.protocol}</td>
                  <td title={g.mode === 'authorize' ? 'The agent answers every client authentication; blocks are possible' : 'Sessions are read from the daemon'}>{g.mode}</td>
                  <td>
                    <span className={g.agentConnected ? 'badge ok' : 'badge bad'}>{g.agentConnected ? 'connected' : 'not connected'}</span>
                  </td>
                  <td>
                    {g.lastSeenAt === null ? 'never' : <time dateTime={g.lastSeenAt} title={absolute(g.lastSeenAt)}>{since(g.lastSeenAt, now)} ago</time>}
                  </td>
                  <td className="num">{g.sessionsOnline}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
