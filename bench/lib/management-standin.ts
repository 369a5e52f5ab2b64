/**
 * A stand-in for an OpenVPN daemon's management interface, for benchmarks that need more clients than
 * real OpenVPN processes can give (100k, or a 10k reconnect storm). It speaks the real protocol over a
 * real unix socket: the `>INFO` greeting, `state`/`state on`, `status 3` (the daemon's exact column
 * headers), `client-kill` with `SUCCESS`/`ERROR` replies, and `>CLIENT:ESTABLISHED`/`>CLIENT:DISCONNECT`
 * blocks as in authorize mode. Unlike a real daemon it accepts several management connections at once,
 * so baselines and Switchboard can share one stand-in (each is given its own clients).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { OpenVpnGatewayConfig } from '../../src/gateways/gateway-config.js';

export interface StandinClient {
  cid: number;
  user: string;
  commonName: string;
  realAddress: string;
  virtualAddress: string;
  connectedSince: number;
}

const HEADER =
  'HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher';

export class ManagementStandin {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private clients = new Map<number, StandinClient>();
  private nextCid = 0;
  /** The daemon instance's start time, seconds (what `state` reports). */
  instance: number;
  /** The daemon's process id (what `pid` reports); a restart changes it. */
  pid = 4242;
  /** `client-kill` commands answered. */
  kills = 0;

  private constructor(readonly path: string) {
    this.instance = Math.floor(Date.now() / 1000) - 100;
    this.server = createServer((socket) => this.onConnection(socket));
  }

  static async start(path: string): Promise<ManagementStandin> {
    await unlink(path).catch(() => undefined);
    const s = new ManagementStandin(path);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(path, () => resolve());
    });
    return s;
  }

  /** `unix:<path>`, the shape of `GatewayConfig.management`. */
  get management(): string {
    return `unix:${this.path}`;
  }

  /** A gateway on this stand-in, as a test runs one: authorize mode, no periodic snapshot for an hour. */
  gatewayConfig(fields: Pick<OpenVpnGatewayConfig, 'id' | 'name'>): OpenVpnGatewayConfig {
    return {
      ...fields,
      region: 'lab',
      protocol: 'openvpn',
      mode: 'authorize',
      management: this.management,
      snapshotIntervalMs: 3_600_000,
    };
  }

  /** Management connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Adds `n` clients (listed by `status 3` from now on); `announce` also sends `>CLIENT:ESTABLISHED` for each. */
  addClients(n: number, announce = false): StandinClient[] {
    const added: StandinClient[] = [];
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < n; i++) {
      const cid = this.nextCid++;
      const c: StandinClient = {
        cid,
        user: `user${cid % 10_000}`,
        commonName: `cn${cid}`,
        realAddress: `10.${(cid >> 16) & 255}.${(cid >> 8) & 255}.${cid & 255}:${1024 + (cid % 60_000)}`,
        virtualAddress: `100.${64 + ((cid >> 16) & 63)}.${(cid >> 8) & 255}.${cid & 255}`,
        connectedSince: now - (n - i),
      };
      this.clients.set(cid, c);
      added.push(c);
    }
    if (announce) {
      const chunks: string[] = [];
      for (const c of added) chunks.push(establishedBlock(c));
      this.broadcast(chunks.join(''));
    }
    return added;
  }

  /**
   * A hard restart: every management connection is closed, the new instance (a new process) has no
   * clients yet and counts Client IDs from 0. `sameSecond`: its state time is the old one's, as when
   * a daemon is killed and started again within one second.
   */
  restart(options: { sameSecond?: boolean } = {}): void {
    if (!options.sameSecond) this.instance = Math.max(this.instance + 1, Math.floor(Date.now() / 1000));
    this.pid++;
    this.clients = new Map();
    this.nextCid = 0;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }

  private broadcast(text: string): void {
    for (const s of this.sockets) s.write(text);
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n");
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buffer += d;
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i).replace(/\r$/, '');
        buffer = buffer.slice(i + 1);
        if (line) socket.write(this.answer(line));
      }
    });
  }

  private answer(line: string): string {
    const [cmd, ...args] = line.split(' ');
    switch (cmd) {
      case 'state':
        if (args[0] === 'on') return 'SUCCESS: real-time state notification set to ON\r\n';
        return `${this.instance},CONNECTED,SUCCESS,100.64.0.1,127.0.0.1,1194,,,\r\nEND\r\n`;
      case 'status':
        return this.status();
      case 'pid':
        return `SUCCESS: pid=${this.pid}\r\n`;
      case 'client-kill': {
        const cid = Number(args[0]);
        const c = this.clients.get(cid);
        if (!c) return `ERROR: client-kill command failed\r\n`;
        this.clients.delete(cid);
        this.kills++;
        // TCP-like: the DISCONNECT follows the reply at once.
        return `SUCCESS: client-kill command succeeded\r\n>CLIENT:DISCONNECT,${cid}\r\n>CLIENT:ENV,common_name=${c.commonName}\r\n>CLIENT:ENV,username=${c.user}\r\n>CLIENT:ENV,bytes_received=100\r\n>CLIENT:ENV,bytes_sent=200\r\n>CLIENT:ENV,END\r\n`;
      }
      case 'hold':
      case 'client-auth':
      case 'client-auth-nt':
      case 'client-deny':
      case 'kill':
      case 'log':
      case 'bytecount':
        return `SUCCESS: ${cmd} command succeeded\r\n`;
      case 'version':
        return 'OpenVPN Version: OpenVPN 2.6 stand-in\r\nManagement Interface Version: 5\r\nEND\r\n';
      default:
        return `ERROR: unknown command [${cmd}], enter 'help' for more options\r\n`;
    }
  }

  private status(): string {
    const now = Math.floor(Date.now() / 1000);
    const out = ['TITLE\tOpenVPN 2.6 stand-in', `TIME\t${new Date(now * 1000).toISOString()}\t${now}`, HEADER];
    for (const c of this.clients.values()) {
      out.push(
        `CLIENT_LIST\t${c.commonName}\t${c.realAddress}\t${c.virtualAddress}\t\t1000\t2000\tx\t${c.connectedSince}\t${c.user}\t${c.cid}\t${c.cid}\tAES-256-GCM`,
      );
    }
    out.push(
      'HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\tReal Address\tLast Ref\tLast Ref (time_t)',
      'GLOBAL_STATS\tMax bcast/mcast queue length\t0',
      'END',
      '',
    );
    return out.join('\r\n');
  }
}

function establishedBlock(c: StandinClient): string {
  const [ip, port] = c.realAddress.split(':');
  return (
    `>CLIENT:ESTABLISHED,${c.cid}\r\n>CLIENT:ENV,common_name=${c.commonName}\r\n>CLIENT:ENV,username=${c.user}\r\n` +
    `>CLIENT:ENV,trusted_ip=${ip}\r\n>CLIENT:ENV,trusted_port=${port}\r\n>CLIENT:ENV,ifconfig_pool_remote_ip=${c.virtualAddress}\r\n` +
    `>CLIENT:ENV,time_unix=${c.connectedSince}\r\n>CLIENT:ENV,IV_VER=2.6.14\r\n>CLIENT:ENV,IV_PLAT=linux\r\n>CLIENT:ENV,END\r\n`
  );
}
