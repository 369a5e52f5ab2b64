/**
 * The OpenVPN adapter: one management connection per daemon, sessions read from `status 3` and from
 * the `>CLIENT:` notifications, disconnects sent as `client-kill`.
 *
 * Facts this relies on (measured against OpenVPN 2.6.14; see the OpenVPN reference):
 * - Session ref = `<instance start, s>:<Client ID>`. The instance start is the timestamp of the
 *   daemon's current `CONNECTED` state (`state` command, `>STATE:` notifications). It is the same on
 *   every management reconnect, and it changes when the daemon restarts, including a SIGUSR1/SIGHUP
 *   soft restart, which also restarts Client IDs at 0. The ENV's `daemon_start_time` does NOT change on
 *   a soft restart, so it cannot tell two instances apart and is not used. The state clock has 1 s
 *   resolution: two instances started within the same second share the prefix. A daemon killed and
 *   started again within that second is told apart by its process id (`pid`, read with the state on
 *   every link): the old instance's sessions end as GATEWAY_RESTART, and the store lets an ended
 *   session's ref go to the new connection. A soft restart within the same second keeps the process
 *   id and is not told apart; `disconnect` then still refuses a ref whose current owner is another user.
 * - Without `management-client-auth` (observe mode) the daemon still sends `>CLIENT:ESTABLISHED`
 *   (with ENV) but never `>CLIENT:DISCONNECT`; the only other sign is `>NOTIFY:info,remote-exit,EXIT`
 *   without a Client ID. So observe mode polls `status 3` (every `observePollMs`) and reports the
 *   sessions that vanished, plus any it missed.
 * - Authorize mode: a `>CLIENT:CONNECT` sent while no management client is connected is lost and that
 *   client would hang until its handshake window ends (60 s). At link-up such clients are found in
 *   `status 3` and restarted, so that they ask again (lost-connect-sweep.ts). With `management-hold`
 *   the daemon waits for the adapter at start, which answers `>HOLD` with `hold release`.
 * - `client-kill` over UDP leaves the instance in `status` for about 5 s (the daemon's delayed exit).
 *   The adapter hides killed Client IDs from its reports at once, and frees the UDP instance with
 *   `kill <ip:port>` after a grace period (see udp-slot-release.ts for why not at once). Over TCP the
 *   instance is gone at once and `kill` would reset a live connection (the client would reconnect), so
 *   it is never sent there. UDP vs TCP is the daemon's `proto_1` ENV value, present in every `>CLIENT:`
 *   block of both modes; while unknown, no `kill` is sent and the delayed exit frees the slot.
 */
import {
  GatewayUnavailableError,
  type AdapterEvent,
  type DisconnectCommand,
  type DisconnectConfirmation,
  type GatewayAdapter,
  type OpenVpnGatewayConfig,
} from '../adapter.js';
import type { BlockEntry } from '../../domain/block.js';
import type { GatewayCapabilities } from '../../domain/gateway.js';
import { ClientAuthDetector, capabilitiesOf } from './client-auth-detector.js';
import { ClientAuthorizer } from './client-authorizer.js';
import { clientKillCommand } from './command-text.js';
import { DaemonProbe, DEFAULT_PROBE } from './daemon-probe.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { ManagementClient, type CommandReply, type ManagementClientOptions } from './management-client.js';
import { parseStateLine, type Notification } from './notification-parser.js';
import { readPasswordFile } from './password-file.js';
import { LostConnectSweep } from './lost-connect-sweep.js';
import { isKillableAddress, parseSessionRef } from './session-reports.js';
import { SessionTable } from './session-table.js';
import { parseStatus } from './status-parser.js';
import { UdpSlotRelease } from './udp-slot-release.js';
import { errorText } from '../../domain/errors.js';
import { everyIntervalSpread } from '../periodic.js';

export interface OpenVpnAdapterOptions {
  logger?: Logger;
  /** Observe mode: how often `status 3` is polled to notice sessions that ended (default 1 000 ms). */
  observePollMs?: number;
  /** Deadline of the adapter's own commands (`status`, `state`, `client-auth`…), default 5 000 ms. */
  commandTimeoutMs?: number;
  /** UDP: how long after a `client-kill` the instance is dropped with `kill ip:port` (default 2 500 ms). */
  udpReleaseGraceMs?: number;
  /** Reconnect and readiness tuning, passed to the management client. */
  link?: Pick<ManagementClientOptions, 'readyTimeoutMs' | 'backoffInitialMs' | 'backoffMaxMs' | 'stuckAfterMs'>;
  /** Liveness probe (`pid`) while linked: how often, and how long an answer may take (see daemon-probe.ts). */
  probe?: { intervalMs?: number; timeoutMs?: number };
  /** Authorize mode: how long a CONNECT waits for the control plane's first block list (see client-authorizer.ts). */
  blockListWaitMs?: number;
  /** Authorize mode: how long a client listed at link-up without its CONNECT may take to ask before it is restarted (lost-connect-sweep.ts). */
  lostConnectGraceMs?: number;
}

type ClientNotification = Extract<Notification, { kind: 'client' }>;

export class OpenVpnAdapter implements GatewayAdapter {
  private readonly logger: Logger;
  private readonly authorizer: ClientAuthorizer;
  private readonly detector = new ClientAuthDetector();
  private emit: (event: AdapterEvent) => void = () => {};
  private link: ManagementClient | null = null;
  private timers: NodeJS.Timeout[] = [];
  /** Seconds; identifies the daemon instance that Client IDs belong to. */
  private instance: number | null = null;
  /** `instance` was read on the current link (a reconnect may have reached a new daemon). */
  private instanceRead: Promise<void> | null = null;
  /** `instanceRead` once it resolved: a kill then goes ahead without a timer and a race of its own. */
  private instanceReady: Promise<void> | null = null;
  /** The daemon's process id as last read (`pid`), null if it would not say. */
  private pid: number | null = null;
  private readonly table: SessionTable;
  private readonly release: UdpSlotRelease;
  private udp: boolean | null = null;
  private refreshChain: Promise<void> = Promise.resolve();
  private polling = false;
  private readonly probe: DaemonProbe;
  private readonly sweep: LostConnectSweep;

  constructor(
    readonly config: OpenVpnGatewayConfig,
    private readonly options: OpenVpnAdapterOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    const identity = config.identity ?? 'certificate';
    this.table = new SessionTable((event) => this.emit(event), config.mode === 'observe', undefined, identity);
    this.authorizer = new ClientAuthorizer({
      gatewayId: config.id,
      mode: config.mode,
      identity,
      logger: this.logger,
      command: (text) => this.command(text),
      onDenied: (d) => this.emit({ type: 'auth-denied', ...d, at: Date.now() }),
      listWaitMs: options.blockListWaitMs,
    });
    this.probe = new DaemonProbe({
      intervalMs: options.probe?.intervalMs ?? DEFAULT_PROBE.intervalMs,
      timeoutMs: options.probe?.timeoutMs ?? DEFAULT_PROBE.timeoutMs,
      send: (timeoutMs) =>
        this.link
          ? this.link.command('pid', { timeoutMs })
          : Promise.reject(new GatewayUnavailableError('the adapter is stopped')),
      activity: () => this.link?.received ?? 0,
      onChange: (responding) => {
        if (responding) this.logger.info({ gatewayId: this.config.id }, 'openvpn: the daemon answers again');
        else
          this.logger.warn(
            { gatewayId: this.config.id },
            'openvpn: the daemon is not responding; disconnects fail at once until it answers',
          );
        this.emit({ type: 'responding', responding });
      },
    });
    this.sweep = new LostConnectSweep({
      graceMs: options.lostConnectGraceMs,
      rescan: () => this.tick(false),
      restart: (cid) => this.restartUnasked(cid),
    });
    this.release = new UdpSlotRelease({
      command: (text, multiline) => this.command(text, multiline),
      logger: this.logger,
      graceMs: options.udpReleaseGraceMs ?? 2_500,
    });
  }

  start(onEvent: (event: AdapterEvent) => void): void {
    if (this.link) return;
    this.emit = onEvent;
    const file = this.config.managementPasswordFile;
    this.link = new ManagementClient(
      {
        address: this.config.management,
        logger: this.logger,
        password: async () => (file ? readPasswordFile(file) : null),
        ...this.options.link,
      },
      {
        onReady: () => void this.onReady(),
        onDown: (error) => this.onDown(error),
        onNotification: (n) => this.onNotification(n),
      },
    );
    this.link.start();
    everyIntervalSpread(this.timers, this.config.snapshotIntervalMs ?? 10_000, () => this.tick(true));
    if (this.config.mode === 'observe')
      this.timers.push(setInterval(() => this.tick(false), this.options.observePollMs ?? 1_000));
  }

  async stop(): Promise<void> {
    this.probe.stop();
    this.authorizer.stop();
    this.sweep.forget();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.release.clear();
    this.table.flush();
    const link = this.link;
    this.link = null;
    this.emit = () => {};
    await link?.stop();
  }

  isConnected(): boolean {
    return this.link?.connected ?? false;
  }

  isResponding(): boolean {
    return this.probe.responding;
  }

  snapshot(): Promise<void> {
    return this.refresh(true);
  }

  capabilities(): GatewayCapabilities {
    return capabilitiesOf(this.config.mode, this.detector.clientAuth);
  }

  setBlocks(blocks: BlockEntry[], lifted?: string[]): void {
    this.authorizer.setBlocks(blocks, lifted);
  }

  async disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation> {
    const deadline = Date.now() + deadlineMs;
    const link = this.link;
    if (!link?.connected) throw new GatewayUnavailableError('the management link is down');
    // A stalled daemon would run the kill whenever it resumes, long after the caller gave up: send nothing.
    if (!this.probe.responding)
      throw new GatewayUnavailableError('the daemon is not responding (no answer to the liveness probe)');
    const ref = parseSessionRef(command.ref);
    if (!ref) return 'NOT_FOUND';
    // Known on this link already (a bulk's every kill but the first): no wait, not even a turn of the loop.
    if (this.instanceRead === null || this.instanceReady !== this.instanceRead) await this.currentInstance(deadline);
    if (ref.instanceStartedAt !== this.instance) return 'NOT_FOUND';
    const cid = ref.clientId;
    if (command.blockSeconds && !this.capabilities().canBlock) {
      // Core refuses this first (BLOCK_UNSUPPORTED); the daemon may have shown its mode since.
      throw new GatewayUnavailableError('this gateway cannot block users; nothing was sent');
    }
    // Killed already: over UDP the daemon still lists it (and would say SUCCESS again) for a few seconds.
    if (this.table.isKilled(cid)) return 'NOT_FOUND';
    const known = this.table.get(cid);
    if (known && command.userName && known.userName !== command.userName) {
      this.logger.warn(
        { ref: command.ref, expected: command.userName, found: known.userName },
        'openvpn: ref now belongs to another user; not killing',
      );
      return 'NOT_FOUND';
    }
    // Block before the kill: a RESTARTed client is back within about a second.
    const undoBlock = this.authorizer.block(command.userName, command.blockSeconds);
    this.table.markKilled(cid);
    let reply: CommandReply;
    try {
      reply = await link.command(clientKillCommand(cid, command.mode, command.message), {
        timeoutMs: Math.max(1, deadline - Date.now()),
      });
    } catch (e) {
      this.table.unmarkKilled(cid);
      undoBlock?.();
      // The queue says whether the kill was written (then the daemon may still run it) or not.
      throw e instanceof GatewayUnavailableError ? e : new GatewayUnavailableError(errorText(e));
    }
    if (!reply.ok) {
      this.table.unmarkKilled(cid);
      undoBlock?.();
      if (/client-kill command failed/.test(reply.message)) return 'NOT_FOUND';
      throw new GatewayUnavailableError(`the daemon refused client-kill: ${reply.message}`);
    }
    this.logger.info(
      {
        gatewayId: this.config.id,
        ref: command.ref,
        mode: command.mode,
        blockSeconds: undoBlock ? command.blockSeconds : 0,
      },
      'openvpn: client killed',
    );
    const address = known?.clientAddress ?? null;
    if (this.udp === true && isKillableAddress(address)) this.release.schedule(cid, address);
    return 'ENDED';
  }

  /** Waits (until `deadline`) for the instance read on this link: Client IDs of another instance must not be killed. */
  private async currentInstance(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GatewayUnavailableError('the daemon instance is not known yet')),
        Math.max(1, deadline - Date.now()),
      );
    });
    try {
      await Promise.race([this.ensureInstance(), late]);
    } catch (e) {
      throw e instanceof GatewayUnavailableError ? e : new GatewayUnavailableError(errorText(e));
    } finally {
      clearTimeout(timer);
    }
  }

  private async onReady(): Promise<void> {
    this.detector.linkUp(Date.now());
    if (this.config.mode === 'authorize') this.sweep.linkUp();
    this.probe.start();
    try {
      await this.command('state on');
      await this.ensureInstance();
      await this.refresh(true);
    } catch (e) {
      this.logger.warn({ gatewayId: this.config.id, err: errorText(e) }, 'openvpn: initial snapshot failed');
    }
  }

  private onDown(error: string): void {
    this.probe.stop();
    this.authorizer.linkDown();
    this.sweep.forget();
    this.table.daemonGoing();
    this.table.markStale();
    this.instanceRead = null;
    this.release.clear();
    this.emit({ type: 'link-down', error });
  }

  private tick(snapshot: boolean): void {
    if (!this.link?.connected || (!snapshot && this.polling)) return;
    if (!snapshot) this.polling = true;
    this.refresh(snapshot)
      .catch((e: unknown) => this.logger.debug({ err: errorText(e) }, 'openvpn: status poll failed'))
      .finally(() => {
        if (!snapshot) this.polling = false;
      });
  }

  /** Reads the instance once per link; a failed read is retried by the next caller. */
  private ensureInstance(): Promise<void> {
    if (!this.instanceRead) {
      const read = this.readInstance();
      this.instanceRead = read;
      read.then(
        () => {
          if (this.instanceRead === read) this.instanceReady = read;
        },
        () => {
          if (this.instanceRead === read) this.instanceRead = null;
        },
      );
    }
    return this.instanceRead;
  }

  /** The instance is known only while the daemon is `CONNECTED` (up, not (re)starting). */
  private async readInstance(): Promise<void> {
    const reply = await this.command('state', true);
    const state = reply.lines
      .map(parseStateLine)
      .filter((s) => s !== null)
      .at(-1);
    if (state?.name !== 'CONNECTED') {
      this.setInstance(null);
      throw new GatewayUnavailableError(`the daemon is not up (state ${state?.name ?? 'unknown'})`);
    }
    const pid = await this.readPid();
    if (state.time === this.instance && pid !== null && this.pid !== null && pid !== this.pid) {
      // Killed and started again within the same second: the same instance time, another process.
      // Its Client IDs start at 0 again, so the old sessions are over: end them as the restart's.
      this.logger.info(
        { gatewayId: this.config.id, startedAt: state.time, pid, was: this.pid },
        'openvpn: new daemon instance within the same second',
      );
      this.table.endAll('GATEWAY_RESTART');
      this.instance = null; // so that setInstance below starts the new process afresh
    }
    this.pid = pid ?? this.pid;
    this.setInstance(state.time);
  }

  /** The daemon's process id (`SUCCESS: pid=N`); null when it does not answer that. */
  private async readPid(): Promise<number | null> {
    const reply = await this.command('pid');
    const m = reply.ok ? /^pid=(\d+)$/.exec(reply.message.trim()) : null;
    return m ? Number(m[1]) : null;
  }

  private setInstance(startedAt: number | null): void {
    if (startedAt === this.instance) return;
    this.instance = startedAt;
    this.detector.reset();
    this.table.reset();
    this.release.clear();
    this.udp = null;
  }

  /** Reads `status 3`; emits a snapshot when asked or when the table was stale, else (observe) the deltas. */
  private refresh(emitSnapshot: boolean): Promise<void> {
    const run = this.refreshChain.then(() => this.readStatus(emitSnapshot));
    this.refreshChain = run.catch(() => undefined);
    return run;
  }

  private async readStatus(emitSnapshot: boolean): Promise<void> {
    await this.ensureInstance();
    this.table.statusReadStarted();
    const reply = await this.command('status 3', true);
    const instance = this.instance; // read after the reply: a `>STATE:` before it has been applied
    if (instance === null) throw new GatewayUnavailableError('the daemon is restarting');
    const status = parseStatus(reply.lines);
    this.table.applyStatus(instance, status.rows, emitSnapshot, status.listedClientIds);
    // A daemon shown not to ask (no management-client-auth) authorizes by itself: its pending clients are its own.
    if (this.detector.clientAuth !== false) {
      const sessions = new Set(status.rows.map((row) => row.clientId));
      this.sweep.statusRead([...status.listedClientIds].filter((cid) => !sessions.has(cid)));
    }
  }

  /** A client whose CONNECT went to no one (see lost-connect-sweep.ts): told to reconnect and ask again. */
  private restartUnasked(cid: number): void {
    const gatewayId = this.config.id;
    this.command(clientKillCommand(cid, 'RESTART', null)).then(
      (reply) => {
        if (reply.ok)
          this.logger.info({ gatewayId, cid }, 'openvpn: restarted a client whose CONNECT no agent received');
        else this.logger.debug({ gatewayId, cid, reply: reply.message }, 'openvpn: client gone before its restart');
      },
      (e: unknown) => this.logger.warn({ gatewayId, cid, err: errorText(e) }, 'openvpn: restart of a client failed'),
    );
  }

  private onNotification(n: Notification): void {
    if (n.kind === 'state') {
      // A soft restart (SIGUSR1/SIGHUP) keeps the process and this link: RECONNECTING, then CONNECTED
      // with a new time and Client IDs from 0. In between no ref is valid.
      if (n.state.name !== 'CONNECTED') {
        this.sweep.forget(); // the clients of the instance to come ask on this link
        this.table.daemonGoing();
        this.setInstance(null);
        this.instanceRead = null;
      } else if (n.state.time !== this.instance) {
        this.logger.info({ gatewayId: this.config.id, startedAt: n.state.time }, 'openvpn: new daemon instance');
        this.setInstance(n.state.time);
        this.instanceRead = this.instanceReady = Promise.resolve();
        this.refresh(true).catch((e: unknown) => this.logger.warn({ err: errorText(e) }, 'openvpn: snapshot failed'));
      }
    } else if (n.kind === 'client') {
      this.logger.debug({ event: n.event, cid: n.cid, kid: n.kid, env: n.env }, 'openvpn: client notification');
      this.onClient(n);
    } else if (n.kind === 'other' && n.source === 'HOLD') {
      // `management-hold`: the daemon starts only once we are here, so no CONNECT goes unanswered.
      this.command('hold release').then(
        (r) =>
          this.logger.info({ gatewayId: this.config.id, reply: r.message }, 'openvpn: released the daemon from hold'),
        (e: unknown) =>
          this.logger.warn({ gatewayId: this.config.id, err: errorText(e) }, 'openvpn: hold release failed'),
      );
    }
  }

  private onClient(n: ClientNotification): void {
    if (n.env.proto_1) this.udp = n.env.proto_1.startsWith('udp');
    if (this.detector.observe(n)) this.capabilitiesChanged();
    if (n.event === 'CONNECT' && this.sweep.restarted(n.cid))
      this.logger.debug(
        { gatewayId: this.config.id, cid: n.cid },
        'openvpn: CONNECT of a client told to reconnect left unanswered (it asks again as a new client)',
      );
    else if (n.event === 'CONNECT' || n.event === 'REAUTH') void this.authorizer.answer(n);
    this.sweep.heardOf(n.cid);
    if (this.instance !== null) this.table.applyClient(this.instance, n);
  }

  private capabilitiesChanged(): void {
    const { canBlock, warning } = this.capabilities();
    if (warning) this.logger.warn({ gatewayId: this.config.id, mode: this.config.mode }, `openvpn: ${warning}`);
    else this.logger.info({ gatewayId: this.config.id, canBlock }, 'openvpn: the daemon runs management-client-auth');
    this.emit({ type: 'capabilities' });
  }

  private command(text: string, multiline = false): Promise<CommandReply> {
    if (!this.link) return Promise.reject(new GatewayUnavailableError('the adapter is stopped'));
    return this.link.command(text, { timeoutMs: this.options.commandTimeoutMs ?? 5_000, multiline });
  }
}
