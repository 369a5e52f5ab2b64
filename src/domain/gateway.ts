/** The VPN protocols Switchboard speaks (see gateways/gateway-config.ts for what adding one takes). */
export const PROTOCOLS = ['openvpn', 'openconnect', 'ikev2', 'wireguard'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** `observe`: sessions are read from the daemon. `authorize`: the agent answers every client auth. */
export type GatewayMode = 'observe' | 'authorize';

/**
 * Where a session's user comes from. `certificate` (the default): the client certificate's common
 * name, which the daemon verified in the TLS handshake. `username`: the username the client sent,
 * only for daemons that check it themselves (`auth-user-pass-verify` or an auth plugin).
 */
export const GATEWAY_IDENTITIES = ['certificate', 'username'] as const;
export type GatewayIdentity = (typeof GATEWAY_IDENTITIES)[number];

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
  /**
   * Whether its agent can deny a user's reconnects (a disconnect's `blockSeconds`), as the agent
   * last said: an `authorize` gateway whose daemon runs `management-client-auth`.
   */
  canBlock: boolean;
  /** A mismatch the agent found between the gateway's settings and its daemon, for operators; null when none. */
  warning: string | null;
  /** Whether the daemon answered its agent's liveness probe, as of the agent's last heartbeat. */
  daemonResponding: boolean;
  /**
   * Since when `agentConnected` and `daemonResponding` have had their current values (ms since epoch),
   * as the control plane saw them change; null before it first recorded a status.
   */
  statusSince: number | null;
  /** The last problem with the daemon's link reported for it (kept after it recovers); null if none. */
  lastError: string | null;
  /** When `lastError` began (ms since epoch): a repeat of the same error while it lasts keeps this time. */
  lastErrorAt: number | null;
  /**
   * When a reload of a control plane's gateway file removed it (ms since epoch); null while it is
   * configured or reported. A removed gateway is not listed, and its agent's reports are ignored
   * until a gateway file lists it again (see core/gateway-reload.ts).
   */
  removedAt: number | null;
}

/** A gateway's `lastError` when the problem is not an error text from its daemon link. */
export const GATEWAY_PROBLEM = {
  /** The agent holds the link, but the daemon does not answer its liveness probe (stopped, wedged). */
  notResponding: 'the daemon does not answer the liveness probe',
  /** Nothing was heard from the gateway's agent within the liveness window. */
  notHeard: 'no heartbeat from its agent',
  /** Its agent stopped serving the gateway and said so (a clean stop, or a reload removed it). */
  agentStopped: 'its agent stopped',
  /** A reload changed the gateway's settings: its agent let go of the link and made it anew. */
  reloadChanged: 'a reload changed the gateway; its link was made anew',
} as const;

/** What an agent says about its gateway beyond the config file: see `Gateway.canBlock` and `warning`. */
export type GatewayCapabilities = Pick<Gateway, 'canBlock' | 'warning'>;
