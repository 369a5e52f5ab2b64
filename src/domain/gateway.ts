export const PROTOCOLS = ['openvpn'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** `observe`: sessions are read from the daemon. `authorize`: the agent answers every client auth. */
export type GatewayMode = 'observe' | 'authorize';

/** One VPN daemon that Switchboard controls. */
export interface Gateway {
  id: string;
  name: string;
  region: string;
  protocol: Protocol;
  mode: GatewayMode;
  /** Whether its agent currently holds the daemon's control connection. */
  agentConnected: boolean;
  lastSeenAt: number | null;
  /** Start time of the daemon instance the agent last saw (ms since epoch), if known. */
  daemonStartedAt: number | null;
}
