/**
 * A gateway test double behind the adapter port, for API and core tests. It is never the evidence that
 * a VPN session ends: the real-daemon suites are. It passes the adapter contract
 * (src/gateways/adapter.contract.ts, run on it by src/gateways/adapter.test.ts), so it cannot drift
 * from what real adapters do.
 */
import type {
  AdapterEvent,
  DisconnectCommand,
  DisconnectConfirmation,
  GatewayAdapter,
  GatewayConfig,
  OpenVpnGatewayConfig,
} from '../../src/gateways/adapter.js';
import { GatewayUnavailableError } from '../../src/gateways/adapter.js';
import type { SessionReport } from '../../src/domain/session.js';
import type { BlockEntry } from '../../src/domain/block.js';
import type { GatewayCapabilities } from '../../src/domain/gateway.js';

let counter = 0;

export class FakeAdapter implements GatewayAdapter {
  readonly config: GatewayConfig;
  readonly sessions = new Map<string, SessionReport>();
  readonly commands: DisconnectCommand[] = [];
  /**
   * `up`: answers; `down`: link down (fails fast); `silent`: never answers (deadline);
   * `stalled`: a stalled daemon: commands wait until `resume()`, then run (after the caller's deadline).
   */
  state: 'up' | 'down' | 'silent' | 'stalled' = 'up';
  /** The cause the echo of a kill reports (a kill that ran late may look like the client's own leaving). */
  echoCause: 'ADMIN_DISCONNECT' | 'CLIENT_DISCONNECT' = 'ADMIN_DISCONNECT';
  private stalled: (() => void)[] = [];
  /** Delay before answering a disconnect, ms. */
  delayMs = 0;
  daemonStartedAt = 1_700_000_000_000;
  /** The block lists the control plane gave it, latest last. */
  readonly blockLists: { blocks: BlockEntry[]; lifted?: string[] }[] = [];
  /** A RESTARTed client comes back by itself as a new session, as real clients do (off by default: core tests count sessions). */
  reconnectOnRestart = false;
  /** Users denied their return, until when (ms): set by a disconnect's `blockSeconds` and by `setBlocks`. */
  private readonly blocked = new Map<string, number>();
  /** What the liveness probe says (see setResponding). */
  private responding = true;
  private emit: (e: AdapterEvent) => void = () => {};

  constructor(config: Partial<OpenVpnGatewayConfig> & { id: string }) {
    this.config = {
      name: config.id,
      region: 'test',
      protocol: 'openvpn',
      mode: 'authorize',
      management: 'unix:/nonexistent',
      ...config,
    };
  }

  start(onEvent: (event: AdapterEvent) => void): void {
    this.emit = onEvent;
    void this.snapshot();
  }

  async stop(): Promise<void> {
    this.emit = () => {};
  }

  /** Blocks like an authorize gateway whose daemon runs management-client-auth; an observe one cannot. */
  capabilities(): GatewayCapabilities {
    return { canBlock: this.config.mode === 'authorize', warning: null };
  }

  setBlocks(blocks: BlockEntry[], lifted?: string[]): void {
    this.blockLists.push({ blocks, ...(lifted ? { lifted } : {}) });
    for (const user of lifted ?? []) this.blocked.delete(user);
    for (const b of blocks) this.blocked.set(b.userName, Math.max(b.until, this.blocked.get(b.userName) ?? 0));
  }

  /** A user tries to come back: refused (auth-denied) while blocked, else a new session. */
  comeBack(userName: string): SessionReport | null {
    if ((this.blocked.get(userName) ?? 0) > Date.now()) {
      this.emit({
        type: 'auth-denied',
        userName,
        reason: 'blocked by an administrator',
        clientAddress: null,
        at: Date.now(),
      });
      return null;
    }
    return this.connect(userName);
  }

  isConnected(): boolean {
    return this.state !== 'down';
  }

  isResponding(): boolean {
    return this.responding;
  }

  /** The daemon stops (false) or resumes (true) answering the liveness probe. */
  setResponding(responding: boolean): void {
    this.responding = responding;
    this.emit({ type: 'responding', responding });
  }

  async snapshot(): Promise<void> {
    this.emit({ type: 'snapshot', daemonStartedAt: this.daemonStartedAt, sessions: [...this.sessions.values()] });
  }

  /** A client connects: returns its report. */
  connect(userName: string, extra: Partial<SessionReport> = {}): SessionReport {
    const n = ++counter;
    const report: SessionReport = {
      ref: `${this.daemonStartedAt}:${n}`,
      userName,
      commonName: userName,
      clientAddress: `127.0.0.1:${40000 + (n % 20000)}`,
      virtualAddress: `10.8.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`,
      virtualAddress6: null,
      connectedAt: Date.now(),
      bytesReceived: 0,
      bytesSent: 0,
      clientVersion: '2.6.14',
      clientPlatform: 'linux',
      ...extra,
    };
    this.sessions.set(report.ref, report);
    this.emit({ type: 'session.connected', session: report });
    return report;
  }

  /** A client quits by itself. */
  quit(ref: string): void {
    this.sessions.delete(ref);
    this.emit({ type: 'session.disconnected', ref, cause: 'CLIENT_DISCONNECT', at: Date.now() });
  }

  /** A stalled daemon resumes: queued commands run, in order. */
  resume(): void {
    this.state = 'up';
    for (const run of this.stalled.splice(0)) run();
  }

  linkDown(): void {
    this.state = 'down';
    this.emit({ type: 'link-down', error: 'fake link down' });
  }

  /** The daemon restarted: every session is gone, a new start time. */
  restart(): void {
    this.sessions.clear();
    this.daemonStartedAt += 1000;
    this.state = 'up';
    void this.snapshot();
  }

  async disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation> {
    this.commands.push(command);
    if (this.state === 'down') throw new GatewayUnavailableError('management link is down');
    if (!this.responding) throw new GatewayUnavailableError('the daemon is not responding');
    if (command.blockSeconds && !this.capabilities().canBlock)
      throw new GatewayUnavailableError('this gateway cannot block users; nothing was sent');
    if (this.state === 'silent') {
      await new Promise((r) => setTimeout(r, deadlineMs));
      throw new GatewayUnavailableError('no answer before the deadline', { mayTakeEffect: true });
    }
    if (this.state === 'stalled') {
      const run = new Promise<void>((r) => this.stalled.push(r));
      const late = run.then(() => this.kill(command));
      const timedOut = new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new GatewayUnavailableError('no answer before the deadline', { mayTakeEffect: true })),
          deadlineMs,
        ),
      );
      return Promise.race([late, timedOut]);
    }
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.kill(command);
  }

  private kill(command: DisconnectCommand): DisconnectConfirmation {
    const session = this.sessions.get(command.ref);
    if (!session) return 'NOT_FOUND';
    this.sessions.delete(command.ref);
    if (command.blockSeconds) this.blocked.set(session.userName, Date.now() + command.blockSeconds * 1000);
    this.emit({ type: 'session.disconnected', ref: command.ref, cause: this.echoCause, at: Date.now() });
    if (command.mode === 'RESTART' && this.reconnectOnRestart) setImmediate(() => this.comeBack(session.userName));
    return 'ENDED';
  }
}
