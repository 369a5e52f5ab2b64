/**
 * The WireGuard lab, for the real-WireGuard tests: a wireguard-go server in its own network namespace
 * and wireguard-go clients each in theirs, linked by veth pairs, every client pinging the server
 * through its tunnel (a client's data is what makes it handshake again) and a TCP echo server on the
 * server's tunnel address to prove traffic. Names are unique host-wide (the UAPI socket directory is
 * shared by every namespace); `close()` kills every process by PID and removes the namespaces and
 * sockets.
 *
 * ```ts
 * const lab = await WireGuardLab.create();
 * const alice = await lab.addClient('alice');   // resolves once alice's tunnel carries TCP
 * await lab.passes(alice);                      // a TCP echo through the tunnel
 * await lab.close();
 * ```
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { WireGuardGatewayConfig } from '../gateways/adapter.js';
import { reapOnExit } from './child-reaper.js';

const run = promisify(execFile);
const SOCKET_DIR = '/var/run/wireguard';
const SERVER_IP = '10.77.0.1';
const ECHO_PORT = 7;
const LISTEN_PORT = 51820;
/** How long a probe may take to start (a busy machine), and then to see its echo come back. */
const PROBE_START_MS = 8_000;
const PROBE_ECHO_MS = 4_000;
/** Probes that ran and saw no echo before a tunnel is reported stopped, and probes tried at most. */
const PROBE_FAILURES = 2;
const PROBE_TRIES = 4;

/** Whether wireguard-go and wg can be run here. */
export function wireguardAvailable(): boolean {
  try {
    execFileSync('wg', ['--version'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', 'command -v wireguard-go'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** For `describe(..., { skip })`: under `CI=true` a missing binary throws, so the suite fails instead of passing silently. */
export function wireguardSkipReason(): string | false {
  if (wireguardAvailable()) return false;
  if (process.env.CI === 'true') throw new Error('CI=true but wireguard-go or wg is not installed');
  return 'wireguard-go or wireguard-tools is not installed (apt-get install wireguard-go wireguard-tools); skipping real-WireGuard tests';
}

export interface LabPeer {
  readonly user: string;
  readonly publicKey: string;
  readonly netns: string;
  readonly address: string;
}

/** One peer of the server interface, from `wg show <interface> dump`. */
export interface ServerPeer {
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  allowedIps: string[];
  /** Ms since the epoch (whole seconds); 0: never. */
  lastHandshakeAt: number;
  persistentKeepalive: number;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

function startProcess(args: string[]): Running {
  const child = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
  reapOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

async function sh(args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await run(args[0]!, args.slice(1))).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(args[0]!, args.slice(1), (e, stdout) => (e ? reject(e) : resolve(stdout)));
    child.stdin!.end(input);
  });
}

/** Waits for wireguard-go's UAPI socket (without a process per look: the adapter under test shares this event loop). */
async function waitForSocket(path: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await stat(path).catch(() => null))?.isSocket()) {
    if (Date.now() > end) throw new Error(`lab: ${path} did not appear`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class WireGuardLab {
  readonly serverNetns: string;
  readonly interface: string;
  readonly socket: string;
  /** The server's address inside the tunnels (a TCP echo listens on it). */
  readonly serverAddress = SERVER_IP;
  private serverKey = '';
  serverPublicKey = '';
  private server: Running | null = null;
  private readonly processes: Running[] = [];
  private readonly netns: string[] = [];
  private readonly interfaces: string[] = [];
  readonly peers: LabPeer[] = [];
  /** The peers on the server interface when it stopped: put back when it starts, as a saved config would. */
  saved: string[] = [];
  /** Clients added so far (each one's number picks its namespace, veth and addresses). */
  private clientCount = 0;
  /** Users whose keys exist, by user: their public keys. */
  private readonly reserved = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly tag: string,
  ) {
    this.serverNetns = `sbwg-${tag}-s`;
    this.interface = `wgs${tag}`;
    this.socket = join(SOCKET_DIR, `${this.interface}.sock`);
  }

  static async create(): Promise<WireGuardLab> {
    const lab = new WireGuardLab(mkdtempSync(join(tmpdir(), 'sb-wg-')), randomBytes(4).toString('hex').slice(0, 7));
    try {
      await sh(['ip', 'netns', 'add', lab.serverNetns]);
      lab.netns.push(lab.serverNetns);
      await sh(['ip', '-n', lab.serverNetns, 'link', 'set', 'lo', 'up']);
      lab.serverKey = (await sh(['wg', 'genkey'])).trim();
      lab.serverPublicKey = (await sh(['wg', 'pubkey'], lab.serverKey)).trim();
      await lab.startServer();
      const echo = `require('net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${ECHO_PORT}, '0.0.0.0')`;
      lab.processes.push(startProcess(['ip', 'netns', 'exec', lab.serverNetns, process.execPath, '-e', echo]));
      return lab;
    } catch (e) {
      await lab.close();
      throw e;
    }
  }

  /** A gateway entry for the server interface, every lab peer mapped to its user. */
  gatewayConfig(extra: Partial<WireGuardGatewayConfig> = {}): WireGuardGatewayConfig {
    return {
      id: `gw-wg-${this.tag}`,
      name: `lab wireguard ${this.tag}`,
      region: 'lab',
      protocol: 'wireguard',
      mode: 'authorize',
      interface: this.interface,
      socket: this.socket,
      stateFile: join(this.dir, 'state.json'),
      peers: [...this.reserved].map(([user, publicKey]) => ({ publicKey, user })),
      pollIntervalSeconds: 0.25,
      ...extra,
    };
  }

  /** The server's wireguard-go (`ip netns exec` execs it, so the child's PID is its own): a test can SIGSTOP it. */
  get serverPid(): number | null {
    return this.serverRunning ? (this.server!.child.pid ?? null) : null;
  }

  get serverRunning(): boolean {
    return this.server !== null && this.server.child.exitCode === null && this.server.child.signalCode === null;
  }

  /** Starts wireguard-go for the server interface and configures it: key, port, address, and the lab's peers (as a saved config would). */
  async startServer(): Promise<void> {
    await unlink(this.socket).catch(() => undefined);
    this.server = startProcess(['ip', 'netns', 'exec', this.serverNetns, 'wireguard-go', '-f', this.interface]);
    this.interfaces.push(this.interface);
    await waitForSocket(this.socket);
    const keyFile = join(this.dir, 'server.key');
    await writeFile(keyFile, `${this.serverKey}\n`, { mode: 0o600 });
    await sh(['wg', 'set', this.interface, 'listen-port', String(LISTEN_PORT), 'private-key', keyFile]);
    await sh(['ip', '-n', this.serverNetns, 'addr', 'add', `${SERVER_IP}/24`, 'dev', this.interface]);
    await sh(['ip', '-n', this.serverNetns, 'link', 'set', this.interface, 'up']);
    for (const peer of this.peers.filter((p) => this.saved.includes(p.publicKey))) await this.addPeerToServer(peer);
  }

  /** Stops the server's wireguard-go (SIGTERM, by PID) and waits until it exited; its tunnels go with it. */
  async stopServer(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    this.saved = (await sh(['wg', 'show', this.interface, 'peers'])).split('\n').filter(Boolean);
    server.child.kill('SIGTERM');
    await server.exited;
    await unlink(this.socket).catch(() => undefined);
  }

  /** Makes `user`'s key and preshared key now (a gateway entry made before the client starts can map it); returns the public key. */
  async reserve(user: string): Promise<string> {
    const known = this.reserved.get(user);
    if (known) return known;
    const key = (await sh(['wg', 'genkey'])).trim();
    const publicKey = (await sh(['wg', 'pubkey'], key)).trim();
    await writeFile(join(this.dir, `${user}.key`), `${key}\n`, { mode: 0o600 });
    await writeFile(join(this.dir, `${user}.psk`), `${(await sh(['wg', 'genpsk'])).trim()}\n`, { mode: 0o600 });
    this.reserved.set(user, publicKey);
    return publicKey;
  }

  /** The server interface's peers as `wg show <interface> dump` lists them (what an operator would see). */
  async serverPeers(): Promise<ServerPeer[]> {
    const lines = (await sh(['wg', 'show', this.interface, 'dump'])).split('\n').filter(Boolean).slice(1);
    return lines.map((line) => {
      const [publicKey, presharedKey, endpoint, allowedIps, handshake, , , keepalive] = line.split('\t');
      return {
        publicKey: publicKey!,
        presharedKey: presharedKey === '(none)' ? null : presharedKey!,
        endpoint: endpoint === '(none)' ? null : endpoint!,
        allowedIps: allowedIps === '(none)' ? [] : allowedIps!.split(','),
        lastHandshakeAt: Number(handshake) * 1000,
        persistentKeepalive: keepalive === 'off' ? 0 : Number(keepalive),
      };
    });
  }

  /** Puts `peer` on the server interface with its configuration (also "behind Switchboard's back"). */
  async addPeerToServer(peer: LabPeer): Promise<void> {
    const pskFile = join(this.dir, `${peer.user}.psk`);
    await sh([
      'wg',
      'set',
      this.interface,
      'peer',
      peer.publicKey,
      'preshared-key',
      pskFile,
      'allowed-ips',
      `${peer.address}/32`,
    ]);
  }

  /**
   * A client of `user`: its own namespace and wireguard-go, a veth to the server, a preshared key, a
   * ping through the tunnel every 0.5 s. Resolves once a TCP echo passes. Clients of different users
   * may be added concurrently; each is numbered in the order of the calls.
   */
  async addClient(user: string): Promise<LabPeer> {
    const i = ++this.clientCount; // taken at once: clients may be added concurrently
    const netns = `sbwg-${this.tag}-c${i}`;
    const ifname = `wgc${this.tag}${i}`;
    const [a, b] = [`vw${this.tag}a${i}`, `vw${this.tag}b${i}`];
    await sh(['ip', 'netns', 'add', netns]);
    this.netns.push(netns);
    await sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
    await sh(['ip', 'link', 'add', a, 'netns', this.serverNetns, 'type', 'veth', 'peer', 'name', b, 'netns', netns]);
    await sh(['ip', '-n', this.serverNetns, 'addr', 'add', `10.78.${i}.1/24`, 'dev', a]);
    await sh(['ip', '-n', this.serverNetns, 'link', 'set', a, 'up']);
    await sh(['ip', '-n', netns, 'addr', 'add', `10.78.${i}.2/24`, 'dev', b]);
    await sh(['ip', '-n', netns, 'link', 'set', b, 'up']);
    const publicKey = await this.reserve(user);
    const peer: LabPeer = { user, publicKey, netns, address: `10.77.0.${i + 1}` };
    this.peers.push(peer);
    await this.addPeerToServer(peer);
    this.processes.push(startProcess(['ip', 'netns', 'exec', netns, 'wireguard-go', '-f', ifname]));
    this.interfaces.push(ifname);
    await waitForSocket(join(SOCKET_DIR, `${ifname}.sock`));
    await sh([
      'wg',
      'set',
      ifname,
      'private-key',
      join(this.dir, `${user}.key`),
      'peer',
      this.serverPublicKey,
      'preshared-key',
      join(this.dir, `${user}.psk`),
      'endpoint',
      `10.78.${i}.1:${LISTEN_PORT}`,
      'allowed-ips',
      '10.77.0.0/24',
      'persistent-keepalive',
      '1',
    ]);
    await sh(['ip', '-n', netns, 'addr', 'add', `${peer.address}/24`, 'dev', ifname]);
    await sh(['ip', '-n', netns, 'link', 'set', ifname, 'up']);
    this.processes.push(startProcess(['ip', 'netns', 'exec', netns, 'ping', '-q', '-i', '0.5', SERVER_IP]));
    for (let k = 0; k < 100 && !(await this.passes(peer)); k++) await new Promise((r) => setTimeout(r, 100));
    return peer;
  }

  /**
   * Whether a TCP echo through `peer`'s tunnel comes back: true at the first probe that sees its echo
   * within 4 s of starting; false only once two probes that ran both saw none. One stalled echo on a
   * loaded machine (a wireguard-go or the echo server not scheduled for a few seconds) therefore never
   * reads as a stopped tunnel, at the price of 8 s rather than 4 s to see one that did stop. A probe
   * the machine was too busy to start within 8 s does not count (four tries in all).
   *
   * The probe's bash runs with `--norc`: Node gives a child a socket as its stdin, and bash, seeing a
   * socket there and SHLVL below 2 (a test runner started without a parent shell's SHLVL, as in CI or
   * from a background job), takes itself for a remote shell and sources /etc/bash.bashrc and
   * ~/.bashrc. A heavy ~/.bashrc (pyenv init here: 4-5 s per probe at load 24, against 50 ms with
   * --norc) then used up every try, and a tunnel that carried traffic was reported stopped.
   */
  async passes(peer: LabPeer): Promise<boolean> {
    let failed = 0;
    for (let attempt = 0; attempt < PROBE_TRIES && failed < PROBE_FAILURES; attempt++) {
      const outcome = await this.probe(peer);
      if (outcome === 'passed') return true;
      if (outcome === 'failed') failed++;
    }
    return false;
  }

  /** One TCP echo through `peer`'s tunnel: it says when it starts, and has 4 s from then. */
  private probe(peer: LabPeer): Promise<'passed' | 'failed' | 'not started'> {
    const echo = `exec 3<>/dev/tcp/${SERVER_IP}/${ECHO_PORT} && echo ping-${peer.user} >&3 && read -t 4 line <&3 && [ "$line" = ping-${peer.user} ] && echo passed`;
    const script = `echo started; ${echo}`;
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', peer.netns, 'bash', '--norc', '--noprofile', '-c', script], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      let started = false;
      let timer = setTimeout(() => child.kill('SIGKILL'), PROBE_START_MS);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        out += d;
        if (started || !/^started$/m.test(out)) return;
        started = true;
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), PROBE_ECHO_MS);
      });
      const done = () => {
        clearTimeout(timer);
        resolve(/^passed$/m.test(out) ? 'passed' : started ? 'failed' : 'not started');
      };
      child.once('error', done);
      child.once('close', done);
    });
  }

  /** Kills every process by PID, then removes the namespaces, the sockets and the temp dir. */
  async close(): Promise<void> {
    const all = [...this.processes, ...(this.server ? [this.server] : [])];
    for (const p of all) p.child.kill('SIGTERM');
    await Promise.all(all.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 2000))])));
    for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const ns of this.netns) await sh(['ip', 'netns', 'del', ns]).catch(() => undefined);
    for (const ifname of this.interfaces) await unlink(join(SOCKET_DIR, `${ifname}.sock`)).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
