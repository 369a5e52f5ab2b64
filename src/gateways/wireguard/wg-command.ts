/**
 * The adapter's transport through the `wg` command (`control: wg`): `wg show <if> dump` reads,
 * `wg set <if> peer <key> remove` and `wg set <if> peer <key> preshared-key /dev/stdin …` change.
 * `wg` speaks netlink to the kernel module and the UAPI socket to userspace implementations, so this
 * is the transport for a kernel interface, which has no socket of its own.
 *
 * Secrets: the preshared key of a re-added peer goes to `wg` in a file of its own (mode 0600, in a
 * directory of mode 0700 on /dev/shm where there is one, removed as soon as `wg` exits), never on its
 * command line (visible in `ps`). `wg` cannot read it from its stdin: Node hands a child a socket
 * there, which `wg` cannot open as a file (ENXIO). The dump's first line (the interface's private key) is dropped unread; `wg`'s
 * error text is passed on with anything shaped like a key blanked out (it quotes a malformed key).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const NONE = '(none)';

/** Blanks base64 (44 characters) and hex (64) keys out of `wg`'s messages. */
export function withoutKeys(text: string): string {
  return text.replace(/[A-Za-z0-9+/]{42,43}=|\b[0-9a-f]{64}\b/g, '<key>');
}

/**
 * Parses `wg show <if> dump`: the interface's line (private key, public key, listen port, fwmark),
 * then one line per peer (public key, preshared key, endpoint, allowed IPs, latest handshake in
 * seconds, bytes received, bytes sent, persistent keepalive), tab-separated, `(none)` / `off` for
 * unset values. Throws a GatewayUnavailableError when the text does not have that shape.
 */
export function parseDump(text: string, source: string): WireGuardDevice {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines[0]?.split('\t');
  if (!head || head.length !== 4) throw new GatewayUnavailableError(`${source}: no interface line in the reply`);
  const peers = lines.slice(1).map((line, i): WireGuardPeer => {
    const f = line.split('\t');
    if (f.length !== 8)
      throw new GatewayUnavailableError(`${source}: peer line ${i + 1} has ${f.length} fields, not 8`);
    return {
      publicKey: f[0]!,
      presharedKey: f[1] === NONE ? null : f[1]!,
      endpoint: f[2] === NONE ? null : f[2]!,
      allowedIps: f[3] === NONE ? [] : f[3]!.split(','),
      lastHandshakeAt: integer(f[4]!) * 1000,
      rxBytes: integer(f[5]!),
      txBytes: integer(f[6]!),
      persistentKeepalive: f[7] === 'off' ? 0 : integer(f[7]!),
    };
  });
  return checkedDevice({ listenPort: integer(head[2]!), peers }, source);
}

/** A decimal count, or -1 (which the device schema refuses). */
function integer(text: string): number {
  return /^\d{1,16}$/.test(text) ? Number(text) : -1;
}

export class WgCommandControl implements WireGuardControl {
  constructor(
    private readonly interfaceName: string,
    private readonly wg = 'wg',
  ) {}

  async read(timeoutMs: number): Promise<WireGuardDevice> {
    const args = ['show', this.interfaceName, 'dump'];
    return parseDump(await this.run(args, timeoutMs, false), `${this.wg} ${args.join(' ')}`);
  }

  async removePeer(publicKey: string, timeoutMs: number): Promise<void> {
    await this.run(['set', this.interfaceName, 'peer', publicKey, 'remove'], timeoutMs, true);
  }

  async addPeer(peer: PeerConfig, timeoutMs: number): Promise<void> {
    const dir = peer.presharedKey ? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sb-wg-')) : null;
    try {
      // /dev/null sets no preshared key (all zeros), as a peer without one has.
      const keyFile = dir ? join(dir, 'psk') : '/dev/null';
      if (dir) writeFileSync(keyFile, `${peer.presharedKey}\n`, { mode: 0o600, flag: 'wx' });
      const args = ['set', this.interfaceName, 'peer', peer.publicKey, 'preshared-key', keyFile];
      args.push('persistent-keepalive', peer.persistentKeepalive ? String(peer.persistentKeepalive) : 'off');
      args.push('allowed-ips', peer.allowedIps.join(','));
      await this.run(args, timeoutMs, true);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }

  /** wireguard-go's socket where there is one (`wg` uses it too); the kernel interface's index otherwise. */
  instance(): InterfaceInstance | null {
    const socket = socketInstance(`/var/run/wireguard/${this.interfaceName}.sock`);
    if (socket) return socket;
    try {
      const index = readFileSync(`/sys/class/net/${this.interfaceName}/ifindex`, 'utf8').trim();
      return { id: `ifindex:${index}`, startedAt: null };
    } catch {
      return null;
    }
  }

  /** Runs `wg`; its stdout. `changes`: whether the command may have taken effect when no answer comes. */
  private run(args: string[], timeoutMs: number, changes: boolean): Promise<string> {
    const what = `${this.wg} ${args[0]} ${this.interfaceName}`;
    return new Promise((resolve, reject) => {
      execFile(
        this.wg,
        args,
        { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (e, stdout, stderr) => {
          if (!e) return resolve(stdout);
          const err = e as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
          if (err.killed)
            return reject(
              new GatewayUnavailableError(`no answer from ${what} within ${timeoutMs} ms`, { mayTakeEffect: changes }),
            );
          if (typeof err.code === 'string')
            return reject(new GatewayUnavailableError(`cannot run ${this.wg}: ${err.code}`, { mayTakeEffect: false }));
          const message = withoutKeys(stderr.trim().split('\n')[0] ?? '') || `exit code ${String(err.code)}`;
          reject(new GatewayUnavailableError(`${what} failed: ${message}`, { mayTakeEffect: false }));
        },
      );
    });
  }
}
