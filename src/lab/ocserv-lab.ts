/**
 * The ocserv lab, used by the real-OpenConnect tests: ocserv in a network namespace of its own, and
 * each `openconnect` client in another one joined to it by a veth pair, so a client's tunnel carries
 * real traffic to ocserv. Password auth; every process tracked by PID; namespaces, veths and the temp
 * dir removed on `close()`. Needs root, `ip`, `ocserv`, `occtl` and `openconnect`.
 *
 * ```ts
 * const lab = await OcservLab.create();
 * await lab.start();
 * const alice = await lab.startClient('alice');   // resolves once the tunnel is up
 * await alice.sendTraffic();                       // a UDP packet through the tunnel
 * await lab.close();
 * ```
 *
 * Clients run with a connect script of the lab's own that only addresses the tun device and routes
 * the tunnel subnet: the default vpnc-script would rewrite the resolver configuration, which network
 * namespaces share with the host.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { appendFile, chmod, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { OpenConnectGatewayConfig } from '../gateways/adapter.js';
import { LabPki } from './openvpn-pki.js';
import { LabProcess, sleep } from './openvpn-process.js';

const run = promisify(execFile);
const PORT = 4443;
/** The connect-script Switchboard ships for blocks (src/lab and dist/lab are both two levels below it). */
const CONNECT_SCRIPT = fileURLToPath(new URL('../../bin/switchboard-ocserv-connect', import.meta.url));
/** The tunnel subnet ocserv hands out; its first address is ocserv's end of every tunnel. */
const TUNNEL_NET = '10.94.0';

/** Whether ocserv, occtl and openconnect can be run here. */
export function ocservAvailable(): boolean {
  return ['ocserv', 'occtl', 'openconnect'].every((bin) => {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore' });
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  });
}

/**
 * For `describe(..., { skip })`: a reason to skip when ocserv or openconnect is missing, `false` when
 * they are there. Under `CI=true` a missing binary throws, so the suite fails instead of skipping.
 */
export function ocservSkipReason(): string | false {
  if (ocservAvailable() && process.getuid?.() === 0) return false;
  if (process.env.CI === 'true')
    throw new Error('CI=true but ocserv/occtl/openconnect are not installed (or not root)');
  return 'ocserv, occtl and openconnect (and root) are needed (apt-get install ocserv openconnect); skipping real-ocserv tests';
}

export class OcservLab {
  /** ocserv's network namespace. */
  readonly netns: string;
  /** ocserv's `occtl-socket-file`. */
  readonly occtlSocket: string;
  private server: LabProcess | undefined;
  private readonly clients: OcLabClient[] = [];
  /** Each user's line in the passwd file, once written (clients may start concurrently). */
  private readonly users = new Map<string, Promise<void>>();
  private clientScript: Promise<string> | undefined;
  /**
   * With `blocks`: the block file Switchboard writes and ocserv's connect-script reads (the shipped
   * `bin/switchboard-ocserv-connect`, through a wrapper that names this file).
   */
  readonly blockFile: string | undefined;
  private starts = 0;
  private clientCount = 0;
  private pin = '';
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly pki: LabPki,
    private readonly tag: string,
    blocks: boolean,
  ) {
    this.netns = `sboc${tag}`;
    this.occtlSocket = join(dir, 'occtl.socket');
    this.blockFile = blocks ? join(dir, 'blocks') : undefined;
  }

  /** Makes the temp dir, the server certificate and ocserv's namespace (and with `blocks`, the connect-script). */
  static async create(options: { blocks?: boolean } = {}): Promise<OcservLab> {
    const dir = mkdtempSync(join(tmpdir(), 'sb-oc-'));
    chmodSync(dir, 0o755); // ocserv's workers run as nobody and reach the sec-mod socket in here
    const tag = randomBytes(3).toString('hex');
    try {
      const lab = new OcservLab(dir, await LabPki.create(dir), tag, options.blocks ?? false);
      if (lab.blockFile)
        await writeFile(join(dir, 'connect-script.sh'), `#!/bin/sh\nexec ${CONNECT_SCRIPT} ${lab.blockFile}\n`, {
          mode: 0o755,
        });
      await chmod(lab.pki.server.key, 0o644);
      lab.pin = await publicKeyPin(lab.pki.server.cert);
      await ip('netns', 'add', lab.netns);
      await ip('-n', lab.netns, 'link', 'set', 'lo', 'up');
      return lab;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The `occtl` target (socket and namespace) of this ocserv. */
  get target(): { socket: string; netns: string } {
    return { socket: this.occtlSocket, netns: this.netns };
  }

  /** A gateway entry for this ocserv (its occtl socket and namespace filled in). */
  gatewayConfig(extra: Partial<OpenConnectGatewayConfig> = {}): OpenConnectGatewayConfig {
    const mode = this.blockFile
      ? { mode: 'authorize' as const, blockFile: this.blockFile }
      : { mode: 'observe' as const };
    return {
      id: `oc-${this.tag}`,
      name: `ocserv lab ${this.tag}`,
      region: 'lab',
      protocol: 'openconnect',
      ...mode,
      occtlSocket: this.occtlSocket,
      netns: this.netns,
      ...extra,
    };
  }

  get pid(): number | undefined {
    return this.server?.pid;
  }

  get running(): boolean {
    return this.server !== undefined && !this.server.exited;
  }

  log(): string {
    return this.server?.log() ?? '';
  }

  /**
   * Adds a password user (password `pw-<name>`), read by ocserv at each login; with `group`, the
   * user's one group in the passwd file (ocserv then lists it as the tunnel's `Groupname`).
   */
  async addUser(name: string, group?: string): Promise<void> {
    // Any characters but the passwd file's `:`, a path's `/` and white space (names are in file names).
    for (const word of [name, group ?? '*']) {
      if (!/^([^\s:/]{1,32}|\*)$/u.test(word))
        throw new Error(`lab: unsupported user or group name ${JSON.stringify(word)}`);
    }
    let added = this.users.get(name);
    if (!added) {
      added = (async () => {
        const { stdout } = await run('openssl', ['passwd', '-6', `pw-${name}`]);
        await appendFile(join(this.dir, 'passwd'), `${name}:${group ?? '*'}:${stdout.trim()}\n`);
      })();
      this.users.set(name, added);
    }
    await added;
  }

  /** Starts ocserv (again, after `stop()`) and waits for its control socket. */
  async start(extraConfig: string[] = []): Promise<void> {
    if (this.closed) throw new Error('lab: closed');
    if (this.running) throw new Error('lab: ocserv already running');
    await appendFile(join(this.dir, 'passwd'), '');
    await writeFile(join(this.dir, 'ocserv.conf'), this.config(extraConfig));
    await rm(this.occtlSocket, { force: true });
    this.starts += 1;
    const server = new LabProcess(
      `ocserv#${this.starts}`,
      join(this.dir, `ocserv-${this.starts}.log`),
      ['netns', 'exec', this.netns, 'ocserv', '-f', '-c', join(this.dir, 'ocserv.conf')],
      this.dir,
      { command: 'ip', outputToLog: true },
    );
    this.server = server;
    try {
      await server.waitForLog(/initialized ocserv/, { timeoutMs: 15_000 });
      for (let i = 0; i < 200 && !existsSync(this.occtlSocket); i += 1) await sleep(25);
    } catch (e) {
      await server.stop();
      throw e;
    }
  }

  /** Stops ocserv (SIGTERM, by PID) and waits for it to exit. Clients keep running (and retry). */
  async stop(): Promise<void> {
    await this.server?.stop();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** SIGSTOP/SIGCONT to stall ocserv's main process. */
  signal(signal: NodeJS.Signals): void {
    this.server?.signal(signal);
  }

  /** Connects `user` from a namespace of its own; resolves once openconnect says the tunnel is up. */
  async startClient(user: string, options: { waitConnected?: boolean } = {}): Promise<OcLabClient> {
    const n = ++this.clientCount; // taken at once: clients may start concurrently, numbered in call order
    await this.addUser(user);
    const ns = `${this.netns}c${n}`;
    const [inner, outer] = [`oc${this.tag}c${n}`, `oc${this.tag}s${n}`];
    await ip('netns', 'add', ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('link', 'add', inner, 'netns', ns, 'type', 'veth', 'peer', 'name', outer, 'netns', this.netns);
    await ip('-n', this.netns, 'addr', 'add', `10.201.${n}.1/24`, 'dev', outer);
    await ip('-n', this.netns, 'link', 'set', outer, 'up');
    await ip('-n', ns, 'addr', 'add', `10.201.${n}.2/24`, 'dev', inner);
    await ip('-n', ns, 'link', 'set', inner, 'up');
    this.clientScript ??= (async () => {
      const path = join(this.dir, 'client-script.sh');
      await writeFile(path, CLIENT_SCRIPT, { mode: 0o755 });
      return path;
    })();
    const script = await this.clientScript;
    const args = [
      'netns',
      'exec',
      ns,
      'openconnect',
      '--protocol=anyconnect',
      `--user=${user}`,
      '--passwd-on-stdin',
      '--non-inter',
      `--servercert=${this.pin}`,
      '--script',
      script,
      '--interface',
      `oc${n}`,
      `https://10.201.${n}.1:${PORT}/`,
    ];
    const client = new OcLabClient(
      `client${n}-${user}`,
      join(this.dir, `client${n}-${user}.log`),
      args,
      this.dir,
      user,
      ns,
    );
    this.clients.push(client);
    if (options.waitConnected ?? true) await client.waitConnected();
    return client;
  }

  /** Stops every client and ocserv by PID, deletes the namespaces, then the temp dir. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.stop()));
    await this.stop();
    for (let n = 1; n <= this.clientCount; n++) await ip('netns', 'del', `${this.netns}c${n}`).catch(() => undefined);
    await ip('netns', 'del', this.netns).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private config(extra: string[]): string {
    const lines = [
      `auth = "plain[passwd=${join(this.dir, 'passwd')}]"`,
      `tcp-port = ${PORT}`,
      `udp-port = ${PORT}`,
      'run-as-user = nobody',
      'run-as-group = nogroup',
      `socket-file = ${join(this.dir, 'ocserv-socket')}`,
      `occtl-socket-file = ${this.occtlSocket}`,
      'use-occtl = true',
      `pid-file = ${join(this.dir, 'ocserv.pid')}`,
      `server-cert = ${this.pki.server.cert}`,
      `server-key = ${this.pki.server.key}`,
      'isolate-workers = false',
      'max-clients = 256',
      'max-same-clients = 0',
      'rate-limit-ms = 0',
      'max-ban-score = 0',
      'keepalive = 32400',
      'dpd = 90',
      'mobile-dpd = 1800',
      'try-mtu-discovery = false',
      'auth-timeout = 240',
      'cookie-timeout = 300',
      'deny-roaming = false',
      'device = vpns',
      'predictable-ips = true',
      `ipv4-network = ${TUNNEL_NET}.0`,
      'ipv4-netmask = 255.255.255.0',
      'log-level = 2',
      ...extra,
    ];
    if (this.blockFile) lines.push(`connect-script = ${join(this.dir, 'connect-script.sh')}`);
    return `${lines.join('\n')}\n`;
  }
}

export class OcLabClient extends LabProcess {
  constructor(
    name: string,
    logPath: string,
    args: string[],
    cwd: string,
    readonly user: string,
    readonly netns: string,
  ) {
    super(name, logPath, args, cwd, { command: 'ip', stdin: `pw-${user}\n`, outputToLog: true });
  }

  /** Waits for `Configured as …` (after log offset `from`, for reconnects). */
  async waitConnected(options: { from?: number; timeoutMs?: number } = {}): Promise<void> {
    await this.waitForLog(/^Configured as /, options);
  }

  /** Sends one UDP datagram through the tunnel to ocserv's end of it (counted in ocserv's RX). */
  async sendTraffic(bytes = 512): Promise<void> {
    await run('ip', [
      'netns',
      'exec',
      this.netns,
      'bash',
      '--norc',
      '--noprofile',
      '-c',
      `printf '%${bytes}s' x > /dev/udp/${TUNNEL_NET}.1/9`,
    ]);
  }
}

/** The connect script: address the tun device and route the tunnel subnet through it; nothing else. */
const CLIENT_SCRIPT = `#!/bin/sh
[ "$reason" = connect ] || exit 0
ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
ip link set "$TUNDEV" up
ip route add ${TUNNEL_NET}.0/24 dev "$TUNDEV"
exit 0
`;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** openconnect's `--servercert pin-sha256:…` for the certificate's public key. */
async function publicKeyPin(cert: string): Promise<string> {
  const { stdout: pem } = await run('openssl', ['x509', '-in', cert, '-noout', '-pubkey']);
  const der = await new Promise<Buffer>((resolve, reject) => {
    const child = execFile('openssl', ['pkey', '-pubin', '-outform', 'DER'], { encoding: 'buffer' }, (e, out) =>
      e ? reject(e) : resolve(out),
    );
    child.stdin?.end(pem);
  });
  return `pin-sha256:${createHash('sha256').update(der).digest('base64')}`;
}
