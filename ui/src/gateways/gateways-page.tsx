/** Gateways: each one's health (daemon link, daemon responding, refused reports), when its agent was last heard, sessions online. */
import { absolute, since } from '../format.js';
import type { Auth } from '../auth/auth.js';
import { healthOf } from './gateway-health.js';
import { useGateways } from './use-gateways.js';

export function GatewaysPage({ auth }: { auth: Auth }) {
  const { gateways: rows, error, readAt: now } = useGateways(auth);

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
      {rows !== null && rows.length > 0 && (
        <div className="table-wrap">
          <table className="data">
            <caption className="sr-only">Gateways and their health</caption>
            <thead>
              <tr>
                <th scope="col">Gateway</th>
                <th scope="col">Region</th>
                <th scope="col">Protocol</th>
                <th scope="col">Mode</th>
                <th scope="col">Status</th>
                <th scope="col">Agent last heard</th>
                <th scope="col" className="num">
                  Sessions online
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((g) => {
                const health = healthOf(g);
                return (
                  <tr key={g.id} data-gateway-id={g.id} data-health={health.state}>
                    <th scope="row">
                      {g.name}
                      <div className="muted small mono">{g.id}</div>
                    </th>
                    <td>{g.region}</td>
                    <td>{g.protocol}</td>
                    <td
                      title={
                        g.mode === 'authorize'
                          ? 'The agent answers every client authentication; blocks are possible'
                          : 'Sessions are read from the daemon'
                      }
                    >
                      {g.mode}
                    </td>
                    <td className="wrap">
                      <span className={health.state === 'ok' ? 'badge ok' : 'badge bad'}>
                        {health.state === 'ok' ? 'connected, responding' : health.label}
                      </span>
                      {health.state !== 'ok' && <div className="small">{health.meaning}</div>}
                      {g.warning !== null && <div className="small warn-text">Warning: {g.warning}</div>}
                    </td>
                    <td>
                      {g.lastSeenAt === null ? (
                        'never'
                      ) : (
                        <time dateTime={g.lastSeenAt} title={absolute(g.lastSeenAt)}>
                          {since(g.lastSeenAt, now)} ago
                        </time>
                      )}
                    </td>
                    <td className="num">{g.sessionsOnline}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <p className="muted small">
        “Agent last heard” is the agent’s last heartbeat: an agent can be heard while its daemon is down or not
        answering, which the status says.
      </p>
    </section>
  );
}
