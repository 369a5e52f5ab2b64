/** One line per gateway that is not healthy, above the sessions: which gateway, what is wrong, how many sessions it touches. */
import type { GatewayRow } from '../api/operations.js';
import { healthOf } from '../gateways/gateway-health.js';

export function HealthBanner({ gateways }: { gateways: GatewayRow[] }) {
  const sick = gateways.map((g) => ({ g, health: healthOf(g) })).filter((x) => x.health.state !== 'ok');
  if (sick.length === 0) return null;
  return (
    <section className="health-banner" aria-label="Gateway problems">
      <ul>
        {sick.map(({ g, health }) => (
          <li key={g.id} data-gateway-id={g.id} data-health={health.state}>
            <strong>{g.name}</strong> <span className="mono small">({g.id})</span>: {health.label} — {g.sessionsOnline}{' '}
            session{g.sessionsOnline === 1 ? '' : 's'} affected. {health.meaning}
            {health.disconnect !== null ? ` ${health.disconnect}` : ''}
          </li>
        ))}
      </ul>
    </section>
  );
}
