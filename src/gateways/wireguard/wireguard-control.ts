/**
 * How the WireGuard adapter reads and changes its interface, whatever carries it: the interface's
 * UAPI socket (uapi.ts: wireguard-go and other userspace implementations) or the `wg` command
 * (wg-command.ts: netlink to the kernel module, the same socket to userspace ones). Both answer
 * the same `WireGuardDevice`, checked by one schema: a reply that does not fit it is an error
 * (GatewayUnavailableError), never a shorter list of peers.
 */
import { statSync } from 'node:fs';
import { z } from 'zod';
import { GatewayUnavailableError } from '../adapter.js';
import { WIREGUARD_KEY_PATTERN } from '../gateway-config.js';

const key = z.string().regex(WIREGUARD_KEY_PATTERN);
const count = z.number().int().nonnegative();

const peerSchema = z.object({
  /** Base64, as `wg`, configs and operators write it. */
  publicKey: key,
  presharedKey: key.nullable(),
  /** `ip:port` or `[ipv6]:port`. */
  endpoint: z
    .string()
    .regex(/^\S+:\d{1,5}$/)
    .nullable(),
  /** CIDRs, e.g. `10.77.0.2/32`. */
  allowedIps: z.array(z.string().regex(/^[0-9A-Fa-f.:]+\/\d{1,3}$/)),
  persistentKeepalive: count,
  /** Ms since the epoch; 0 when the peer never completed a handshake. */
  lastHandshakeAt: count,
  rxBytes: count,
  txBytes: count,
});

const deviceSchema = z.object({ listenPort: count.nullable(), peers: z.array(peerSchema) });

/** One peer as the interface reports it (keys in base64). */
export type WireGuardPeer = z.infer<typeof peerSchema>;
export type WireGuardDevice = z.infer<typeof deviceSchema>;
/** What re-adding a peer exactly as it was needs (a RESTART, a block's end). */
export type PeerConfig = Pick<WireGuardPeer, 'publicKey' | 'presharedKey' | 'allowedIps' | 'persistentKeepalive'>;

/**
 * `device` if it fits the schema; otherwise a GatewayUnavailableError naming the field that does not
 * (never its value: a reply holds preshared keys).
 */
export function checkedDevice(device: WireGuardDevice, source: string): WireGuardDevice {
  const result = deviceSchema.safeParse(device);
  if (result.success) return result.data;
  const where = result.error.issues[0]?.path.join('.') ?? '?';
  throw new GatewayUnavailableError(`${source}: the reply does not fit (at ${where})`);
}

/** The interface instance: a new one (a restarted daemon, a re-created interface) ends every session. */
export interface InterfaceInstance {
  id: string;
  /** When it started, if known (ms since the epoch). */
  startedAt: number | null;
}

/** The transport behind the adapter (the gateway entry's `control`). */
export interface WireGuardControl {
  /** The interface and its peers; rejects with GatewayUnavailableError (the text "no answer" on a timeout). */
  read(timeoutMs: number): Promise<WireGuardDevice>;
  removePeer(publicKey: string, timeoutMs: number): Promise<void>;
  /** Adds (or replaces) the peer with exactly this configuration. */
  addPeer(peer: PeerConfig, timeoutMs: number): Promise<void>;
  /** The instance now; null when it cannot be told (the interface is not there). */
  instance(): InterfaceInstance | null;
}

/** A userspace implementation's instance: its socket file's inode and change time (a restart makes a new socket). */
export function socketInstance(socketPath: string): InterfaceInstance | null {
  try {
    const s = statSync(socketPath);
    return { id: `${s.ino}:${Math.floor(s.ctimeMs)}`, startedAt: Math.floor(s.ctimeMs) };
  } catch {
    return null;
  }
}
