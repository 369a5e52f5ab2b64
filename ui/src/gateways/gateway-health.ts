/**
 * What the console says about a gateway's health, from the API's own fields: `agentConnected` (the
 * agent holds the daemon's control connection and is heard from), `daemonResponding` (the daemon
 * answers the agent's liveness probe) and `degradedReason` (this replica refuses its reports). One
 * function, so the Sessions banner, the rows, the disconnect dialog and the Gateways page never
 * disagree.
 */
import type { GatewayRow } from '../api/operations.js';

export type HealthState = 'ok' | 'link-down' | 'not-responding' | 'degraded';

export interface Health {
  state: HealthState;
  /** A few words for a badge. */
  label: string;
  /** What it means for the sessions on that gateway (a sentence). */
  meaning: string;
  /** What a disconnect on that gateway will do now (a sentence), or null when it works normally. */
  disconnect: string | null;
}

type HealthFields = Pick<GatewayRow, 'agentConnected' | 'daemonResponding'> &
  Partial<Pick<GatewayRow, 'degradedReason'>>;

export function healthOf(g: HealthFields): Health {
  if (!g.agentConnected) {
    return {
      state: 'link-down',
      label: 'daemon link down',
      meaning:
        'Switchboard has no control connection to its daemon (the daemon stopped, or its agent is not heard from): its sessions cannot be confirmed and may have ended unseen.',
      disconnect: 'A disconnect cannot be sent while the link is down; it fails and nothing changes.',
    };
  }
  if (!g.daemonResponding) {
    return {
      state: 'not-responding',
      label: 'daemon not responding',
      meaning:
        'Its daemon does not answer (stopped, hung or stuck in a slow script): the sessions listed are as last reported.',
      disconnect:
        'A disconnect is refused at once (not sent) while the daemon does not answer; the session stays online.',
    };
  }
  if (g.degradedReason) {
    return {
      state: 'degraded',
      label: 'reports refused',
      meaning: `Its reports are refused: ${g.degradedReason}. Its sessions are not kept current.`,
      disconnect: null,
    };
  }
  return { state: 'ok', label: 'healthy', meaning: 'Connected and responding.', disconnect: null };
}
