/**
 * The OpenVPN lab, used by `switchboard demo` and by the real-OpenVPN tests: a throw-away PKI, OpenVPN servers on loopback (one tun device each) and
 * `--dev null` clients, every process tracked by PID and everything removed on `close()`.
 *
 * ```ts
 * const lab = await OpenVpnLab.create();
 * const srv = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
 * const alice = await srv.startClient({ user: 'alice' });   // resolves once connected
 * await alice.waitExited();
 * await lab.close();
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenVpnGatewayConfig } from '../gateways/adapter.js';
import { LabPki } from './openvpn-pki.js';
import { LabProcess, type WaitForLogOptions } from './openvpn-process.js';
import { freeLabPort, labSubnet, releaseLabPort } from './openvpn-ports.js';

export { sleep } from './openvpn-process.js';

export type LabProto = 'udp4' | 'tcp4';
/** `observe`: plain server. `authorize`: `management-client-auth` + `auth-user-pass-optional`. */
export type LabMode = 'observe' | 'authorize';

export interface ServerOptions {
  proto: LabProto;
  mode: LabMode;
  /** When set, the management socket asks for this password. */
  managementPassword?: string;
  /** Also hand out IPv6 addresses (`server-ipv6`). */
  ipv6?: boolean;
  /**
   * `management-hold`: the daemon waits for a management client's `hold release` before it starts;
   * `start()` then returns once the management socket listens.
   */
  hold?: boolean;
}

export interface ClientOptions {
  /** Sent with `--auth-user-pass` (password `pw-<user>`); omitted when not set. */
  user?: string;
  /** Certificate common name; defaults to the user name, else `client<n>`. */
  cn?: string;
  /** Connect to this port on 127.0.0.1 instead of the server's (a relay in between). */
  remotePort?: number;
  /** Resolve only once the client logged `Initialization Sequence Completed` (default true). */
  waitConnected?: boolean;
  extraArgs?: string[];
}

const READY = /Initialization Sequence Completed/;

/** Whether an `openvpn` binary can be run here. */
export function openvpnAvailable(): boolean {
  try {
    execFileSync('openvpn', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // `openvpn --version` exits 1 on some builds; only a missing binary counts as unavailable.
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * For `describe(..., { skip })`: a reason to skip when OpenVPN is missing, `false` when it is there.
 * Under `CI=true` a missing binary throws, so the suite fails instead of passing silently.
 */
export function openvpnSkipReason(): string | false {
  if (openvpnAvailable()) return false;
  if (process.env.CI === 'true') throw new Error('CI=true but the openvpn binary is not installed');
  return 'openvpn is not installed (apt-get install openvpn); skipping real-OpenVPN tests';
}

export class OpenVpnLab {
  private readonly servers: LabServer[] = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly pki: LabPki,
  ) {}

  /** Makes the temp dir and the PKI (once per suite). */
  static async create(): Promise<OpenVpnLab> {
    // Short base path: unix socket paths are limited to 107 bytes.
    const dir = mkdtempSync(join(tmpdir(), 'sb-ovpn-'));
    try {
      return new OpenVpnLab(dir, await LabPki.create(dir));
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async startServer(options: ServerOptions): Promise<LabServer> {
    if (this.closed) throw new Error('lab: closed');
    const port = await freeLabPort();
    const server = new LabServer(this, port, options);
    this.servers.push(server);
    await server.start();
    return server;
  }

  /** Stops every client and server by PID, then removes the temp dir. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.servers.map((s) => s.stopAll()));
    for (const s of this.servers) releaseLabPort(s.port);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class LabServer {
  readonly dir: string;
  /** `unix:/…/mgmt.sock`, the shape of `GatewayConfig.management`. */
  readonly management: string;
  readonly managementPasswordFile: string | undefined;
  readonly device: string;
  private readonly socketPath: string;
  private process: LabProcess | undefined;
  private readonly clients: LabClient[] = [];
  private starts = 0;

  constructor(
    private readonly lab: OpenVpnLab,
    readonly port: number,
    readonly options: ServerOptions,
  ) {
    this.dir = join(lab.dir, `s${port}`);
    this.socketPath = join(this.dir, 'mgmt.sock');
    this.management = `unix:${this.socketPath}`;
    this.managementPasswordFile = options.managementPassword === undefined ? undefined : join(this.dir, 'mgmt.pw');
    this.device = `sb${port}`;
  }

  get proto(): LabProto {
    return this.options.proto;
  }

  get mode(): LabMode {
    return this.options.mode;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get running(): boolean {
    return this.process !== undefined && !this.process.exited;
  }

  /** A gateway config entry for this server (mode, management socket and password file filled in). */
  gatewayConfig(extra: Partial<OpenVpnGatewayConfig> = {}): OpenVpnGatewayConfig {
    return {
      id: `gw-${this.port}`,
      name: `lab ${this.proto} ${this.port}`,
      region: 'lab',
      protocol: 'openvpn',
      mode: this.mode,
      management: this.management,
      managementPasswordFile: this.managementPasswordFile,
      ...extra,
    };
  }

  /** The current server process's log. */
  log(): string {
    return this.process?.log() ?? '';
  }

  /** Sends a signal to the daemon (SIGSTOP/SIGCONT to stall it, SIGUSR1 for a soft restart). */
  signal(signal: NodeJS.Signals): void {
    this.process?.signal(signal);
  }

  /** Waits for a line of the current server process's log (see `LabProcess.waitForLog`). */
  waitForLog(pattern: RegExp, options: WaitForLogOptions = {}): Promise<string> {
    if (!this.process) throw new Error('lab: server not started');
    return this.process.waitForLog(pattern, options);
  }

  /** Starts the daemon (again, after `stop()`) and waits for `Initialization Sequence Completed` (see `hold`). */
  async start(): Promise<void> {
    if (this.running) throw new Error('lab: server already running');
    await mkdir(this.dir, { recursive: true });
    if (this.managementPasswordFile)
      await writeFile(this.managementPasswordFile, `${this.options.managementPassword}\n`, { mode: 0o600 });
    await writeFile(join(this.dir, 'server.conf'), this.config());
    await unlink(this.socketPath).catch(() => undefined);
    this.starts += 1;
    const logPath = join(this.dir, `server-${this.starts}.log`);
    this.process = new LabProcess(
      `server ${this.proto}/${this.mode}:${this.port}`,
      logPath,
      ['--config', 'server.conf', '--log', logPath],
      this.dir,
    );
    try {
      await this.process.waitForLog(this.options.hold ? /MANAGEMENT: unix domain socket listening/ : READY, {
        timeoutMs: 15_000,
      });
    } catch (e) {
      await this.process.stop();
      throw e;
    }
  }

  /** Stops the daemon (SIGTERM, by PID) and waits until it has exited. Clients keep running. */
  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /** Same config, same port, new daemon instance. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async startClient(options: ClientOptions = {}): Promise<LabClient> {
    const n = this.clients.length + 1;
    const cn = options.cn ?? options.user ?? `client${n}`;
    const files = await this.lab.pki.client(cn);
    const name = `c${n}-${options.user ?? cn}`;
    const args = [
      '--client',
      '--proto',
      this.proto === 'udp4' ? 'udp4' : 'tcp4-client',
      '--remote',
      '127.0.0.1',
      String(options.remotePort ?? this.port),
      '--nobind',
      '--disable-dco',
      '--ca',
      this.lab.pki.ca,
      '--cert',
      files.cert,
      '--key',
      files.key,
      '--remote-cert-tls',
      'server',
      '--dev',
      'null',
      '--ifconfig-noexec',
      '--route-noexec',
      '--verb',
      '3',
      '--machine-readable-output',
    ];
    // A well-behaved UDP client says goodbye when it quits, as real ones do by default in many configs.
    if (this.proto === 'udp4') args.push('--explicit-exit-notify', '1');
    if (options.user !== undefined) {
      const upFile = join(this.dir, `${name}.up`);
      await writeFile(upFile, `${options.user}\npw-${options.user}\n`, { mode: 0o600 });
      args.push('--auth-user-pass', upFile);
    }
    args.push(...(options.extraArgs ?? []));
    const logPath = join(this.dir, `${name}.log`);
    args.push('--log', logPath);
    const client = new LabClient(name, logPath, args, this.dir, options.user ?? null, cn);
    this.clients.push(client);
    if (options.waitConnected ?? true) {
      try {
        await client.waitConnected();
      } catch (e) {
        // What the server saw of it (a CONNECT nobody answered shows here, not in the client's log).
        if (e instanceof Error) e.message += `\n${this.process?.tail() ?? '--- server not running ---'}`;
        throw e;
      }
    }
    return client;
  }

  /** Stops all clients, then the server. */
  async stopAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop()));
    await this.stop();
  }

  private config(): string {
    const { proto, mode, ipv6 } = this.options;
    const [a, b] = labSubnet(this.port);
    const lines = [
      'mode server',
      'tls-server',
      `proto ${proto}`,
      'local 127.0.0.1',
      `port ${this.port}`,
      `dev ${this.device}`,
      'dev-type tun',
      'topology subnet',
      `server 198.${a}.${b}.0 255.255.255.0`,
      `ca ${this.lab.pki.ca}`,
      `cert ${this.lab.pki.server.cert}`,
      `key ${this.lab.pki.server.key}`,
      'dh none',
      'keepalive 10 60',
      'disable-dco',
      'duplicate-cn',
      'verb 3',
      `management ${this.socketPath} unix${this.managementPasswordFile ? ` ${this.managementPasswordFile}` : ''}`,
    ];
    if (ipv6) lines.push(`server-ipv6 fd00:5b:${this.port.toString(16)}::/64`);
    if (this.options.hold) lines.push('management-hold');
    if (mode === 'authorize') lines.push('management-client-auth', 'auth-user-pass-optional');
    return `${lines.join('\n')}\n`;
  }
}

export class LabClient extends LabProcess {
  constructor(
    name: string,
    logPath: string,
    args: string[],
    cwd: string,
    readonly user: string | null,
    readonly cn: string,
  ) {
    super(name, logPath, args, cwd);
  }

  /** Waits for `Initialization Sequence Completed` (after log offset `from`, for reconnects). */
  async waitConnected(options: { from?: number; timeoutMs?: number } = {}): Promise<void> {
    await this.waitForLog(READY, options);
  }
}
