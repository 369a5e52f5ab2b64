/**
 * The strongSwan IKEv2 lab for the real-charon tests: a charon responder and charon initiators, each
 * in a network namespace the lab creates (linked by veth pairs), each with a private `/run` (charon
 * hard-codes its pid file there) and its own VICI socket. ESP runs in userspace (`kernel-libipsec`,
 * ESP in UDP) because kernels without ESP transforms are common on CI machines. Every process is
 * tracked by PID; namespaces (with their veths) and files are removed on `close()`.
 *
 * Peers authenticate the responder with a pre-shared key and themselves with EAP-MD5 (user `userN`
 * unless told otherwise),
 * so a session's user (the EAP identity) differs from the peer's IKE identity (`clientN@lab.test`).
 *
 * ```ts
 * const lab = await StrongSwanLab.create({ clients: 3 });
 * await lab.clients[0].initiate();
 * lab.clients[0].sendUdp(3);            // real ESP through the tunnel
 * await lab.close();
 * ```
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Ikev2GatewayConfig } from '../gateways/adapter.js';
import { LabProcess, sleep } from './openvpn-process.js';
import { charonConf, clientSwanctlConf, responderSwanctlConf, PROTECTED_HOST } from './strongswan-conf.js';

const run = promisify(execFile);
export const CHARON = '/usr/lib/ipsec/charon';

/** Whether charon and swanctl can be run here. */
export function charonAvailable(): boolean {
  if (!existsSync(CHARON)) return false;
  try {
    execFileSync('swanctl', ['--help'], { stdio: 'ignore' }); // --version would ask a running charon
    return true;
  } catch {
    return false;
  }
}

/**
 * For `describe(..., { skip })`: a reason to skip when strongSwan is missing, `false` when it is there.
 * Under `CI=true` a missing charon throws, so the suite fails instead of passing silently.
 */
export function charonSkipReason(): string | false {
  if (charonAvailable()) return false;
  if (process.env.CI === 'true') throw new Error('CI=true but strongSwan (charon, swanctl) is not installed');
  return 'strongSwan is not installed (strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins); skipping real-charon tests';
}

/** One charon in its namespace: its directory holds strongswan.conf, swanctl.conf, the log and the VICI socket. */
export class LabCharon {
  private process: LabProcess | null = null;

  constructor(
    readonly name: string,
    readonly netns: string,
    readonly dir: string,
  ) {}

  get vici(): string {
    return `unix:${join(this.dir, 'charon.vici')}`;
  }

  get logPath(): string {
    return join(this.dir, 'charon.log');
  }

  get pid(): number | null {
    return this.process && !this.process.exited ? this.process.pid : null;
  }

  /** Starts charon and loads its swanctl.conf; resolves once the connections are loaded. */
  async start(): Promise<void> {
    await unlink(join(this.dir, 'charon.vici')).catch(() => undefined);
    const script = `mount -t tmpfs sb-ike-run /run && STRONGSWAN_CONF=${this.dir}/strongswan.conf exec ${CHARON}`;
    this.process = new LabProcess(
      this.name,
      this.logPath,
      ['netns', 'exec', this.netns, 'unshare', '-m', 'sh', '-c', script],
      this.dir,
      { command: 'ip' },
    );
    for (let i = 0; !existsSync(join(this.dir, 'charon.vici')); i++) {
      if (this.process.exited || i > 200)
        throw new Error(`lab: charon ${this.name} did not open its VICI socket\n${this.process.tail()}`);
      await sleep(25);
    }
    await this.swanctl('--load-all', '--file', join(this.dir, 'swanctl.conf'));
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /** SIGSTOP / SIGCONT: a charon that stops answering, and one that answers again. */
  signal(signal: NodeJS.Signals): void {
    this.process?.signal(signal);
  }

  log(): string {
    return this.process?.log() ?? '';
  }

  logLength(): number {
    return this.log().length;
  }

  waitForLog(pattern: RegExp, options: { from?: number; timeoutMs?: number } = {}): Promise<string> {
    if (!this.process) throw new Error(`lab: charon ${this.name} not started`);
    return this.process.waitForLog(pattern, options);
  }

  /** Runs `swanctl <args> --uri <this charon>`; resolves with its stdout. */
  async swanctl(...args: string[]): Promise<string> {
    const { stdout } = await run('swanctl', [...args, '--uri', `unix://${join(this.dir, 'charon.vici')}`], {
      timeout: 30_000,
    });
    return stdout;
  }

  /** The IKE SAs in `swanctl --list-sas --raw` form, one line each. */
  async listSasRaw(): Promise<string[]> {
    return (await this.swanctl('--list-sas', '--raw')).split('\n').filter((l) => l.startsWith('list-sa event'));
  }
}

/** An initiator: its charon, its identities and its side of the veth link. */
export class LabClient extends LabCharon {
  constructor(
    name: string,
    netns: string,
    dir: string,
    readonly index: number,
    readonly user: string,
  ) {
    super(name, netns, dir);
  }

  /** The IKE identity. */
  get ikeId(): string {
    return `client${this.index}@lab.test`;
  }

  get address(): string {
    return `10.90.${this.index}.2`;
  }

  /** Brings up the IKE SA and its CHILD SA (`swanctl --initiate`); rejects if that fails. */
  async initiate(): Promise<void> {
    await this.swanctl('--initiate', '--child', 'home', '--timeout', '20');
  }

  /** Sends `count` UDP datagrams through the tunnel to the responder's protected address. */
  async sendUdp(count = 3): Promise<void> {
    const script = `for i in $(seq 1 ${count}); do echo switchboard-lab > /dev/udp/${PROTECTED_HOST}/9; done`;
    await run('ip', ['netns', 'exec', this.netns, 'bash', '--norc', '--noprofile', '-c', script], { timeout: 10_000 });
  }

  /** Whether this initiator's charon still has an ESTABLISHED IKE SA. */
  async established(): Promise<boolean> {
    return (await this.listSasRaw()).some((l) => l.includes('state=ESTABLISHED'));
  }
}

export interface LabOptions {
  /** How many initiators (default 3). */
  clients?: number;
  /** Each initiator's EAP identity, the session's user (default `user<N>`); two may share one. */
  users?: string[];
  /** The EAP identities whose initiators come back by themselves when the gateway deletes their SA (`close_action = start`). */
  reconnecting?: string[];
}

export class StrongSwanLab {
  private readonly namespaces: string[] = [];
  private closed = false;
  readonly clients: LabClient[] = [];
  readonly responder: LabCharon;

  private constructor(
    readonly dir: string,
    private readonly tag: string,
  ) {
    this.responder = new LabCharon('responder', `sb-ike-${tag}-s`, join(dir, 'responder'));
  }

  /** Namespaces, links and configs; the responder and every initiator's charon running and loaded. */
  static async create(options: LabOptions = {}): Promise<StrongSwanLab> {
    const tag = Math.random().toString(36).slice(2, 8);
    const lab = new StrongSwanLab(mkdtempSync(join(tmpdir(), 'sb-ike-')), tag);
    try {
      await lab.setUp(options.clients ?? 3, options.users ?? [], new Set(options.reconnecting ?? []));
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  private async setUp(count: number, names: string[], reconnecting: Set<string>): Promise<void> {
    const s = this.responder.netns;
    await this.netns(s);
    await ip('-n', s, 'addr', 'add', `${PROTECTED_HOST}/32`, 'dev', 'lo');
    for (let i = 1; i <= count; i++) {
      const c = new LabClient(
        `client${i}`,
        `sb-ike-${this.tag}-c${i}`,
        join(this.dir, `client${i}`),
        i,
        names[i - 1] ?? `user${i}`,
      );
      await this.netns(c.netns);
      const [a, b] = [`sbi${this.tag}a${i}`, `sbi${this.tag}b${i}`];
      await ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      await ip('link', 'set', a, 'netns', s);
      await ip('link', 'set', b, 'netns', c.netns);
      await ip('-n', s, 'addr', 'add', `10.90.${i}.1/24`, 'dev', a);
      await ip('-n', s, 'link', 'set', a, 'up');
      await ip('-n', c.netns, 'addr', 'add', `${c.address}/24`, 'dev', b);
      await ip('-n', c.netns, 'link', 'set', b, 'up');
      await this.writeConf(c.dir, clientSwanctlConf(i, c.user, reconnecting.has(c.user)), reconnecting.has(c.user));
      this.clients.push(c);
    }
    await this.writeConf(this.responder.dir, responderSwanctlConf([...new Set(this.clients.map((c) => c.user))]));
    await this.responder.start();
    await Promise.all(this.clients.map((c) => c.start()));
  }

  /** The Switchboard gateway entry for the responder. */
  gatewayConfig(over: Partial<Ikev2GatewayConfig> & { id: string }): Ikev2GatewayConfig {
    return {
      name: `IKEv2 lab ${over.id}`,
      region: 'lab',
      mode: 'observe',
      ...over,
      protocol: 'ikev2',
      vici: this.responder.vici,
    };
  }

  /** Whether the responder holds an ESTABLISHED IKE SA of `user` (an initiator's own view may be stale). */
  async establishedAtResponder(user: string): Promise<boolean> {
    return (await this.responder.listSasRaw().catch(() => [])).some(
      (l) => l.includes(`remote-eap-id=${user} `) && l.includes('state=ESTABLISHED'),
    );
  }

  /**
   * The inbound bytes of the responder's CHILD SAs under `user`'s IKE SAs: ESP it received and
   * decrypted. 0 when there is none (or the responder does not answer).
   */
  async bytesInFrom(user: string): Promise<number> {
    const lines = (await this.responder.listSasRaw().catch(() => [])).filter((l) =>
      l.includes(`remote-eap-id=${user} `),
    );
    return lines.reduce((sum, l) => sum + [...l.matchAll(/bytes-in=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0), 0);
  }

  /** Stops the responder's charon and starts a new one (its SAs are gone; the initiators do not know yet). */
  async restartResponder(): Promise<void> {
    await this.responder.stop();
    await this.responder.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.responder, ...this.clients].map((c) => c.stop().catch(() => undefined)));
    for (const ns of this.namespaces) await ip('netns', 'del', ns).catch(() => undefined); // takes its veths along
    await rm(this.dir, { recursive: true, force: true });
  }

  private async netns(name: string): Promise<void> {
    await ip('netns', 'add', name);
    this.namespaces.push(name);
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  }

  private async writeConf(dir: string, swanctl: string, reconnect = false): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'strongswan.conf'), charonConf(dir, reconnect));
    await writeFile(join(dir, 'swanctl.conf'), swanctl, { mode: 0o600 });
  }
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 });
}
