/** One word for a session row's state, from its gateway's health and the API's `confirmed`. */
import type { SessionRow } from '../api/operations.js';
import { healthOf, type Health } from '../gateways/gateway-health.js';

export type RowStatus = 'live' | 'unconfirmed' | 'not-responding' | 'no-gateway';

/** A row's status: its gateway's health first (as last read), then whether the gateway vouches for it. */
export function statusOf(s: SessionRow, health: Map<string, Health>): RowStatus {
  if (s.gateway === null) return 'no-gateway';
  const h = health.get(s.gateway.id) ?? healthOf(s.gateway);
  if (h.state === 'not-responding') return 'not-responding';
  if (h.state === 'link-down' || !s.confirmed) return 'unconfirmed';
  return 'live';
}

/** The status as the table and the cards say it. */
export const STATUS_WORDS: Record<RowStatus, string> = {
  live: 'live',
  unconfirmed: 'unconfirmed',
  'not-responding': 'gateway not responding',
  'no-gateway': 'gateway removed',
};

/** The protocol with its transport where the gateway says it: `openvpn · UDP`. */
export function protocolText(s: Pick<SessionRow, 'protocol' | 'transport'>): string {
  return s.transport === null ? s.protocol : `${s.protocol} · ${s.transport}`;
}
