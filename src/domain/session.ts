import type { Protocol } from './gateway.js';

/** Why a session ended; kept in history. */
export const END_CAUSES = ['CLIENT_DISCONNECT', 'ADMIN_DISCONNECT', 'GATEWAY_RESTART', 'GATEWAY_REMOVED'] as const;
export type EndCause = (typeof END_CAUSES)[number];

/** What carries the tunnel's packets between client and gateway. */
export const TRANSPORTS = ['UDP', 'TCP'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** HALT: the client is told to stay down. RESTART: the client may reconnect (as a new session). */
export type DisconnectMode = 'HALT' | 'RESTART';

/**
 * What an agent reports about one live tunnel. `ref` is the daemon-native id, unique per gateway for
 * the life of the daemon instance (OpenVPN: `<daemon start time>:<client id>`).
 */
export interface SessionReport {
  ref: string;
  userName: string;
  commonName: string | null;
  clientAddress: string | null;
  virtualAddress: string | null;
  virtualAddress6: string | null;
  connectedAt: number;
  bytesReceived: number;
  bytesSent: number;
  clientVersion: string | null;
  clientPlatform: string | null;
  /** The daemon's group of the user (ocserv's group); absent or null where the daemon has none. */
  group?: string | null;
  /** The tun/tap device the tunnel runs over on the gateway host (e.g. `vpns0`); absent or null if unknown. */
  device?: string | null;
  /** UDP or TCP between client and gateway; absent or null if the gateway does not say. */
  transport?: Transport | null;
}

/** One tunnel of one user on one gateway, online or (when `endedAt` is set) history. */
export interface Session extends SessionReport {
  id: string;
  gatewayId: string;
  userId: string;
  protocol: Protocol;
  lastSeenAt: number;
  endedAt: number | null;
  endCause: EndCause | null;
  endedByTokenId: string | null;
  endedByName: string | null;
  endReason: string | null;
  group: string | null;
  device: string | null;
  transport: Transport | null;
}

/** The IP part of `ip:port` or `[ipv6]:port`. */
export function ipOf(address: string | null): string | null {
  if (!address) return null;
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (v6) return v6[1] ?? null;
  const i = address.lastIndexOf(':');
  return i > 0 && address.indexOf(':') === i ? address.slice(0, i) : address;
}
