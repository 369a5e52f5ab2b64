/**
 * WireGuard's cross-platform control protocol (UAPI) on an interface's unix socket
 * (`/var/run/wireguard/<interface>.sock`, made by wireguard-go and other userspace implementations):
 * `get=1` reads the interface and its peers, `set=1` changes them; both answer `errno=N`.
 *
 * The default transport (`control: uapi`; the `wg` command is wg-command.ts, measured against this in
 * docs/wireguard-gateways.md: a read here takes a few ms, with `wg` a process start more). Keys travel
 * as hex here and are turned into base64 (the form `wg`,
 * configs and operators use) at this edge. The private key is dropped while parsing; preshared keys
 * are kept (a peer removed by a disconnect is re-added with its full configuration) and never logged.
 */
import { connect } from 'node:net';
import { GatewayUnavailableError } from '../adapter.js';
import {
  checkedDevice,
  socketInstance,
  type InterfaceInstance,
  type PeerConfig,
  type WireGuardControl,
  type WireGuardDevice,
  type WireGuardPeer,
} from './wireguard-control.js';

const ZERO_KEY = '0'.repeat(64);

/**
 * A 32-byte key in hex (64 digits) in base64; '' for anything else, which the schema then refuses
 * (Buffer would read only the digits before a stray character, or drop an odd last one).
 */
export function hexToBase64(hex: string): string {
  return /^[0-9a-fA-F]{64}$/.test(hex) ? Buffer.from(hex, 'hex').toString('base64') : '';
}

export function base64ToHex(key: string): string {
  return Buffer.from(key, 'base64').toString('hex');
}

/** Parses a `get=1` answer (without its `errno=` line check: see `uapiGet`). */
export function parseDevice(text: string): WireGuardDevice {
  const device: WireGuardDevice = { listenPort: null, peers: [] };
  let peer: WireGuardPeer | null = null;
  let sec = 0;
  let nsec = 0;
  const close = () => {
    if (peer) peer.lastHandshakeAt = sec === 0 && nsec === 0 ? 0 : sec * 1000 + Math.floor(nsec / 1e6);
  };
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      close();
      sec = 0;
      nsec = 0;
      peer = {
        publicKey: hexToBase64(value),
        presharedKey: null,
        endpoint: null,
        allowedIps: [],
        persistentKeepalive: 0,
        lastHandshakeAt: 0,
        rxBytes: 0,
        txBytes: 0,
      };
      device.peers.push(peer);
      continue;
    }
    if (!peer) {
      if (key === 'listen_port') device.listenPort = Number(value);
      continue; // private_key and the rest of the interface: not kept
    }
    switch (key) {
      case 'preshared_key':
        peer.presharedKey = value === ZERO_KEY ? null : hexToBase64(value);
        break;
      case 'endpoint':
        peer.endpoint = value;
        break;
      case 'allowed_ip':
        peer.allowedIps.push(value);
        break;
      case 'persistent_keepalive_interval':
        peer.persistentKeepalive = Number(value);
        break;
      case 'last_handshake_time_sec':
        sec = Number(value);
        break;
      case 'last_handshake_time_nsec':
        nsec = Number(value);
        break;
      case 'rx_bytes':
        peer.rxBytes = Number(value);
        break;
      case 'tx_bytes':
        peer.txBytes = Number(value);
        break;
    }
  }
  close();
  return device;
}

/** The `set=1` lines that remove a peer. */
export function removePeerLines(publicKey: string): string[] {
  return [`public_key=${base64ToHex(publicKey)}`, 'remove=true'];
}

/** The `set=1` lines that (re-)add a peer with exactly this configuration. */
export function addPeerLines(peer: PeerConfig): string[] {
  return [
    `public_key=${base64ToHex(peer.publicKey)}`,
    `preshared_key=${peer.presharedKey ? base64ToHex(peer.presharedKey) : ZERO_KEY}`,
    `persistent_keepalive_interval=${peer.persistentKeepalive}`,
    'replace_allowed_ips=true',
    ...peer.allowedIps.map((ip) => `allowed_ip=${ip}`),
  ];
}

/**
 * One request on a fresh connection, answered by a blank line. A request that `changes` the interface
 * (a `set`) may take effect without an answer once it left this process (`written`): wireguard-go
 * stalled (SIGSTOP) still has the connection in its socket's backlog and runs it when it resumes. A
 * `get` changes nothing, so its failure is never "may take effect".
 *
 * The deadline is checked after the event loop's next I/O phase: when this process was itself
 * stalled past the deadline, the timer and the answer are both due, and timers run first; an answer
 * that is already waiting on the socket is taken instead of reporting the daemon silent.
 */
/**
 * Most characters of an answer (a peer takes about 400): past it the exchange fails rather than fill
 * the agent's memory until the deadline, whatever answers on the socket.
 */
export const MAX_UAPI_ANSWER_CHARS = 64 * 1024 * 1024;

function exchange(
  socketPath: string,
  request: string,
  timeoutMs: number,
  changes: boolean,
  maxChars = MAX_UAPI_ANSWER_CHARS,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let written = false;
    let settled = false;
    const socket = connect(socketPath);
    const timer = setTimeout(
      () =>
        setImmediate(() =>
          fail(
            new GatewayUnavailableError(`no answer from ${socketPath} within ${timeoutMs} ms`, {
              mayTakeEffect: changes && written,
            }),
          ),
        ),
      timeoutMs,
    );
    function fail(e: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    }
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request, () => (written = true)));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > maxChars && !text.endsWith('\n\n'))
        return fail(
          new GatewayUnavailableError(`${socketPath} answered more than ${maxChars} characters without its end`, {
            mayTakeEffect: changes && written,
          }),
        );
      if (text.endsWith('\n\n') && !settled) {
        settled = true;
        clearTimeout(timer);
        socket.end();
        resolve(text);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) =>
      fail(
        new GatewayUnavailableError(`cannot reach ${socketPath}: ${e.code ?? e.message}`, {
          mayTakeEffect: changes && written,
        }),
      ),
    );
    socket.on('close', () =>
      fail(
        new GatewayUnavailableError(`${socketPath} closed without an answer`, { mayTakeEffect: changes && written }),
      ),
    );
  });
}

function errnoOf(text: string): number {
  const m = /(?:^|\n)errno=(-?\d+)\n/.exec(text);
  return m ? Number(m[1]) : -1;
}

export async function uapiGet(
  socketPath: string,
  timeoutMs: number,
  maxChars = MAX_UAPI_ANSWER_CHARS,
): Promise<WireGuardDevice> {
  const text = await exchange(socketPath, 'get=1\n\n', timeoutMs, false, maxChars);
  const errno = errnoOf(text);
  if (errno !== 0) throw new GatewayUnavailableError(`get=1 on ${socketPath} answered errno=${errno}`);
  return checkedDevice(parseDevice(text), `get=1 on ${socketPath}`);
}

export async function uapiSet(socketPath: string, lines: string[], timeoutMs: number): Promise<void> {
  const text = await exchange(socketPath, `set=1\n${lines.join('\n')}\n\n`, timeoutMs, true);
  const errno = errnoOf(text);
  if (errno !== 0)
    throw new GatewayUnavailableError(`set=1 on ${socketPath} answered errno=${errno}`, { mayTakeEffect: false });
}

/** The adapter's transport over the UAPI socket (`control: uapi`, the default). */
export class UapiControl implements WireGuardControl {
  constructor(private readonly socketPath: string) {}

  read(timeoutMs: number): Promise<WireGuardDevice> {
    return uapiGet(this.socketPath, timeoutMs);
  }

  removePeer(publicKey: string, timeoutMs: number): Promise<void> {
    return uapiSet(this.socketPath, removePeerLines(publicKey), timeoutMs);
  }

  addPeer(peer: PeerConfig, timeoutMs: number): Promise<void> {
    return uapiSet(this.socketPath, addPeerLines(peer), timeoutMs);
  }

  instance(): InterfaceInstance | null {
    return socketInstance(this.socketPath);
  }
}
