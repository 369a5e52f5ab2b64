/**
 * Turns what OpenVPN says about a client (a `status 3` row, a `>CLIENT:` ENV block) into a
 * SessionReport, and builds/parses the session ref `<instance start, s>:<Client ID>`.
 */
import type { GatewayIdentity } from '../../domain/gateway.js';
import type { SessionReport, Transport } from '../../domain/session.js';
import type { StatusRow } from './status-parser.js';
import { MAX_CLIENT_TEXT_CHARS } from '../../domain/input-limits.js';

/** What only the ENV blocks tell (status 3 has no client version). */
export interface ClientInfo {
  version: string | null;
  platform: string | null;
}

export function sessionRef(instanceStartedAt: number, clientId: number): string {
  return `${instanceStartedAt}:${clientId}`;
}

export function parseSessionRef(ref: string): { instanceStartedAt: number; clientId: number } | null {
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(ref);
  if (!m) return null;
  return { instanceStartedAt: Number(m[1]), clientId: Number(m[2]) };
}

/** The username the client sent, if any (OpenVPN writes `UNDEF` in `status` when there is none). */
export function sentUserName(username: string | null | undefined): string | null {
  return username && username !== 'UNDEF' ? username : null;
}

/**
 * The session's user: the identity the daemon verified. `certificate`: the common name, whatever
 * username the client sent (a certificate-only client may send any username; with
 * `auth-user-pass-optional` nothing checks it). `username`: the username, which the daemon checked
 * (`auth-user-pass-verify`, a plugin); a client the daemon admitted without one is known by its
 * certificate.
 */
export function userNameOf(
  identity: GatewayIdentity,
  username: string | null | undefined,
  commonName: string | null | undefined,
): string {
  const sent = identity === 'username' ? sentUserName(username) : null;
  return sent ?? commonName ?? '';
}

/**
 * UDP or TCP from a `>CLIENT:` ENV block's `proto_1` (the daemon's `proto`: `udp`, `udp4`, `tcp4-server`…);
 * null when absent. One daemon instance serves one proto, so every client of it shares the answer.
 */
export function transportOf(env: Record<string, string>): Transport | null {
  const proto = env.proto_1?.toLowerCase() ?? '';
  return proto.startsWith('udp') ? 'UDP' : proto.startsWith('tcp') ? 'TCP' : null;
}

/**
 * IV_VER and IV_PLAT are what the client says of itself, of any length a client cares to send; the
 * wire contract takes MAX_CLIENT_TEXT_CHARS, and one longer value would have the agent drop the whole
 * snapshot it is in. So a longer one is cut, and ends in `…`.
 */
export function clientInfoOf(env: Record<string, string>): ClientInfo {
  return { version: clientText(env.IV_VER), platform: clientText(env.IV_PLAT) };
}

function clientText(text: string | undefined): string | null {
  if (!text) return null;
  if (text.length <= MAX_CLIENT_TEXT_CHARS) return text;
  let end = MAX_CLIENT_TEXT_CHARS - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // never half a surrogate pair
  return `${text.slice(0, end)}…`;
}

export function reportFromRow(
  instanceStartedAt: number,
  row: StatusRow,
  info: ClientInfo | undefined,
  identity: GatewayIdentity,
  transport: Transport | null = null,
): SessionReport {
  return {
    ref: sessionRef(instanceStartedAt, row.clientId),
    userName: userNameOf(identity, row.username, row.commonName),
    commonName: row.commonName || null,
    clientAddress: row.realAddress || null,
    virtualAddress: row.virtualAddress,
    virtualAddress6: row.virtualAddress6,
    connectedAt: row.connectedSince * 1000,
    bytesReceived: row.bytesReceived,
    bytesSent: row.bytesSent,
    clientVersion: info?.version ?? null,
    clientPlatform: info?.platform ?? null,
    transport,
  };
}

/** From the ENV of `>CLIENT:ESTABLISHED` (the same fields a client-connect script gets). */
export function reportFromEnv(
  instanceStartedAt: number,
  clientId: number,
  env: Record<string, string>,
  identity: GatewayIdentity,
): SessionReport {
  const info = clientInfoOf(env);
  const connectedAt = Number(env.time_unix);
  return {
    ref: sessionRef(instanceStartedAt, clientId),
    userName: userNameOf(identity, env.username, env.common_name),
    commonName: env.common_name || null,
    clientAddress: clientAddressOf(env),
    virtualAddress: env.ifconfig_pool_remote_ip || null,
    virtualAddress6: env.ifconfig_pool_remote_ip6 || null,
    connectedAt: Number.isSafeInteger(connectedAt) && connectedAt > 0 ? connectedAt * 1000 : Date.now(),
    bytesReceived: 0,
    bytesSent: 0,
    clientVersion: info.version,
    clientPlatform: info.platform,
    transport: transportOf(env),
  };
}

/** `ip:port` as `status 3` prints it for IPv4; `[ip6]:port` for IPv6 peers. */
function clientAddressOf(env: Record<string, string>): string | null {
  const port = env.trusted_port || env.untrusted_port;
  const ip = env.trusted_ip || env.untrusted_ip;
  if (ip) return port ? `${ip}:${port}` : ip;
  const ip6 = env.trusted_ip6 || env.untrusted_ip6;
  if (ip6) return port ? `[${ip6}]:${port}` : ip6;
  return null;
}

/** Whether `kill <address>` is safe to send: only the IPv4 `ip:port` form has been verified against the daemon. */
export function isKillableAddress(address: string | null): address is string {
  return address !== null && /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(address);
}
