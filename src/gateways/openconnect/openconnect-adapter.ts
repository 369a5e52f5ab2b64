/**
 * The OpenConnect adapter: one ocserv, driven with `occtl` over its control socket. Sessions come
 * from full listings (`-j show users`, on every link-up and every snapshot interval) and from the
 * live event stream (`show events`); a disconnect is `disconnect id <worker pid>`.
 *
 * Facts this relies on (measured against ocserv 1.1.6 and openconnect 9.01):
 * - HALT is `disconnect id N`, answered in about 35 ms: ocserv tells the client the session is over
 *   (openconnect logs "Session terminated by server; exiting." and exits, and stays down); the tunnel
 *   leaves the listing 90–210 ms later. ocserv has no command that lets a client come back, so
 *   RESTART kills the tunnel's worker instead (worker-reset.ts): the client sees its connection drop
 *   and reconnects with its cookie, as a new tunnel (docs/openconnect-gateways.md).
 * - The worker pid is reused by the OS: before the command the adapter reads `show id N` and sends
 *   nothing unless it is still the same tunnel (same safe id, same user). The window between that
 *   read and the command is one occtl round trip; a new worker would have to be given exactly that
 *   pid within it, which needs the kernel to wrap around its whole pid space.
 * - `true` only when ocserv said "disconnected" *and* the tunnel is gone from its listing.
 * - When ocserv stops, the event stream reports every tunnel as disconnected and then ends: the
 *   stream's end is the link-down, so a disconnect fails at once while ocserv is down.
 * - `show status` gives the instance's pid and start time (`raw_up_since`): a changed pid is a new
 *   instance, whose sessions are all new.
 */
import {
  GatewayUnavailableError,
  type AdapterEvent,
  type DisconnectCommand,
  type DisconnectConfirmation,
  type GatewayAdapter,
  type OpenConnectGatewayConfig,
} from '../adapter.js';
import type { BlockEntry } from '../../domain/block.js';
import type { GatewayCapabilities } from '../../domain/gateway.js';
import { errorText } from '../../domain/errors.js';
import { BlockList } from '../block-list.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { BlockFile, blockableUserName } from './block-file.js';
import { DenialLog } from './denial-log.js';
import { OcctlClient, OcctlTimeoutError, processRunner, type OcctlRunner, type OcctlTarget } from './occtl-client.js';
import { OcctlEventStream } from './occtl-events.js';
import type { OcservEvent } from './occtl-output.js';
import { parseSessionRef, sameTunnel } from './session-ref.js';
import { OcservSessionTable } from './session-table.js';
import { killWorker, type WorkerReset } from './worker-reset.js';
import { everyIntervalSpread } from '../periodic.js';

export interface OpenConnectAdapterOptions {
  logger?: Logger;
  /** Runs occtl (default: the binary, in the target's network namespace). Tests pass a fake. */
  runner?: OcctlRunner;
  /** Deadline of the adapter's own occtl commands, default 5 000 ms. */
  commandTimeoutMs?: number;
  /** Reconnect backoff after ocserv went away: first and longest wait. */
  backoffMs?: { initial: number; max: number };
  /** Liveness probe (`show status`): how often, and how long an answer may take. */
  probe?: { intervalMs?: number; timeoutMs?: number };
  /** How often the listing is read while a disconnect waits for the tunnel to leave it. */
  gonePollMs?: number;
  /** Authorize mode: how often the connect-script's refusals are read (default 500 ms). */
  denialPollMs?: number;
  /** RESTART: kills the tunnel's worker so its client reconnects (tests replace it; see worker-reset.ts). */
  resetWorker?: WorkerReset;
  /** Starts the event stream (tests replace it). */
  eventStream?: (handlers: ConstructorParameters<typeof OcctlEventStream>[1]) => { start(): void; stop(): void };
}

export class OpenConnectAdapter implements GatewayAdapter {
  private readonly logger: Logger;
  private readonly occtl: OcctlClient;
  private readonly table: OcservSessionTable;
  private emit: (event: AdapterEvent) => void = () => {};
  private running = false;
  private linked = false;
  private responding = true;
  private stream: { start(): void; stop(): void } | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  /** The ocserv instance the table belongs to (its main pid), once known. */
  private serverPid: number | null = null;
  private startedAt: number | null = null;
  private listingChain: Promise<void> = Promise.resolve();
  private readonly blocks = new BlockList();
  /** `authorize` mode: where the blocks go for ocserv's connect-script. */
  private readonly blockFile: BlockFile | null;
  /** The connect-script's refusals (authorize mode), reported as `auth-denied`. */
  private readonly denials: DenialLog | null;
  /** The last write of the block file failed (shown as the gateway's warning). */
  private blockFileError: string | null = null;

  private readonly target: OcctlTarget;

  constructor(
    readonly config: OpenConnectGatewayConfig,
    private readonly options: OpenConnectAdapterOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.target = { socket: config.occtlSocket, binary: config.occtl, netns: config.netns };
    this.blockFile = config.mode === 'authorize' && config.blockFile ? new BlockFile(config.blockFile) : null;
    this.denials = this.blockFile ? new DenialLog(`${this.blockFile.path}.denied`) : null;
    this.occtl = new OcctlClient(options.runner ?? processRunner(this.target), options.commandTimeoutMs ?? 5_000);
    this.table = new OcservSessionTable((event) => this.emit(event));
    this.backoff = options.backoffMs?.initial ?? 250;
  }

  start(onEvent: (event: AdapterEvent) => void): void {
    if (this.running) return;
    this.running = true;
    this.emit = onEvent;
    everyIntervalSpread(
      this.timers,
      this.config.snapshotIntervalMs ?? 10_000,
      () =>
        void this.snapshot().catch((e: unknown) =>
          this.logger.debug({ err: errorText(e) }, 'openconnect: periodic listing failed'),
        ),
    );
    this.timers.push(setInterval(() => void this.probe(), this.options.probe?.intervalMs ?? 2_000));
    if (this.denials) this.timers.push(setInterval(() => this.readDenials(), this.options.denialPollMs ?? 500));
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.reconnectTimer);
    this.table.flush();
    this.stream?.stop();
    this.stream = null;
    this.linked = false;
    this.emit = () => {};
    await this.listingChain;
  }

  isConnected(): boolean {
    return this.linked;
  }

  isResponding(): boolean {
    return this.responding;
  }

  /**
   * Blocks hold only through ocserv's connect-script reading the block file (`authorize` mode with a
   * `blockFile`); ocserv alone cannot deny one user's reconnects. See docs/openconnect-gateways.md.
   */
  capabilities(): GatewayCapabilities {
    const warning = this.blockFileError
      ? `the block file cannot be written (${this.blockFileError}); blocks are not enforced`
      : null;
    return { canBlock: this.blockFile !== null && warning === null, warning };
  }

  setBlocks(blocks: BlockEntry[], lifted?: string[]): void {
    this.blocks.replace(blocks, lifted);
    this.writeBlocks().catch(() => undefined);
  }

  private readDenials(): void {
    try {
      for (const d of this.denials?.read() ?? []) {
        const left = this.blocks.remainingSeconds(d.userName);
        const reason =
          left > 0 ? `blocked by an administrator for ${left} more seconds` : 'blocked by an administrator';
        this.emit({ type: 'auth-denied', userName: d.userName, reason, clientAddress: d.clientAddress, at: d.at });
      }
    } catch (e) {
      this.logger.debug(
        { gatewayId: this.config.id, err: errorText(e) },
        "openconnect: could not read the connect-script's refusals",
      );
    }
  }

  /** Hands the blocks in force to the connect-script; a failure shows as the gateway's warning. */
  private async writeBlocks(): Promise<void> {
    if (!this.blockFile) return;
    const before = this.blockFileError;
    try {
      await this.blockFile.write(this.blocks.entries());
      this.blockFileError = null;
    } catch (e) {
      this.blockFileError = (e as NodeJS.ErrnoException).code ?? errorText(e);
      this.logger.error(
        { gatewayId: this.config.id, path: this.blockFile.path, err: errorText(e) },
        'openconnect: cannot write the block file',
      );
      throw new GatewayUnavailableError(`the block file cannot be written (${this.blockFileError}); nothing was sent`);
    } finally {
      if (before !== this.blockFileError) this.emit({ type: 'capabilities' });
    }
  }

  /** Reads the full listing and emits it as a snapshot (also on every link-up and periodically). */
  snapshot(): Promise<void> {
    const run = this.listingChain.then(() => this.readListing());
    this.listingChain = run.catch(() => undefined);
    return run;
  }

  async disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation> {
    const deadline = Date.now() + deadlineMs;
    if (!this.linked) throw new GatewayUnavailableError('ocserv is not reachable (its event stream is down)');
    if (!this.responding)
      throw new GatewayUnavailableError('ocserv is not responding (no answer to the liveness probe)');
    if (command.blockSeconds && !this.capabilities().canBlock)
      throw new GatewayUnavailableError('this gateway cannot block users; nothing was sent');
    const ref = parseSessionRef(command.ref);
    if (!ref || this.table.isKilled(command.ref)) return 'NOT_FOUND';
    // Block before the tunnel ends (the client may try again at once), counted from the request.
    const undoBlock = command.blockSeconds ? await this.block(command.userName, command.blockSeconds) : null;
    // The pid may belong to another tunnel by now: send nothing unless it is still this one.
    let user;
    try {
      user = await this.occtl.user(ref.pid, left(deadline));
    } catch (e) {
      await undoBlock?.();
      throw e;
    }
    if (!user || !sameTunnel(ref, user) || (command.userName && user.userName !== command.userName)) {
      if (user && sameTunnel(ref, user))
        this.logger.warn(
          { ref: command.ref, expected: command.userName, found: user.userName },
          'openconnect: the tunnel belongs to another user; not disconnecting',
        );
      await undoBlock?.();
      return 'NOT_FOUND';
    }
    this.table.markKilled(command.ref);
    let reply;
    try {
      if (command.mode === 'RESTART') {
        if (this.serverPid === null)
          throw new GatewayUnavailableError('the ocserv instance is not known yet; nothing was sent');
        (this.options.resetWorker ?? killWorker)(ref.pid, this.serverPid);
        reply = 'disconnected' as const;
      } else {
        reply = await this.occtl.disconnect(ref.pid, left(deadline));
      }
    } catch (e) {
      this.table.unmarkKilled(command.ref);
      await undoBlock?.();
      throw e instanceof GatewayUnavailableError ? e : new GatewayUnavailableError(errorText(e));
    }
    if (reply === 'refused') {
      // No such worker any more: it ended on its own between the check and the command.
      this.table.unmarkKilled(command.ref);
      await undoBlock?.();
      return 'NOT_FOUND';
    }
    await this.waitGone(ref, deadline, command.ref);
    this.logger.info(
      {
        gatewayId: this.config.id,
        ref: command.ref,
        mode: command.mode,
        blockSeconds: undoBlock ? command.blockSeconds : 0,
      },
      'openconnect: session disconnected',
    );
    return 'ENDED';
  }

  /** Blocks the user in the file before the disconnect; returns what undoes it should nothing be sent. */
  private async block(userName: string, seconds: number): Promise<() => Promise<void>> {
    if (!blockableUserName(userName))
      throw new GatewayUnavailableError('this user name cannot be written to the block file; nothing was sent');
    const undo = this.blocks.block(userName, seconds);
    try {
      await this.writeBlocks();
    } catch (e) {
      undo();
      throw e;
    }
    return async () => {
      undo();
      await this.writeBlocks().catch(() => undefined);
    };
  }

  /** Until the tunnel has left ocserv's listing; past the deadline, "may still take effect". */
  private async waitGone(ref: { pid: number; safeId: string }, deadline: number, text: string): Promise<void> {
    for (;;) {
      let still: boolean;
      try {
        const user = await this.occtl.user(ref.pid, left(deadline));
        still = user !== null && sameTunnel(ref, user);
      } catch (e) {
        throw new GatewayUnavailableError(
          `ocserv confirmed the disconnect of ${text} but could not be asked whether it is gone: ${errorText(e)}`,
          { mayTakeEffect: true },
        );
      }
      if (!still) return;
      if (Date.now() >= deadline)
        throw new GatewayUnavailableError(`ocserv confirmed the disconnect of ${text} but still lists it`, {
          mayTakeEffect: true,
        });
      await sleep(Math.min(this.options.gonePollMs ?? 25, left(deadline)));
    }
  }

  /** Opens the event stream; once occtl is past its initial listing, reads the full one. */
  private connect(): void {
    if (!this.running) return;
    const stream = (this.options.eventStream ?? ((h) => new OcctlEventStream(this.target, h)))({
      onReady: () => void this.linkUp(stream),
      onEvent: (event) => void this.onEvent(event),
      onEnd: (why) => this.linkDown(stream, why),
    });
    this.stream = stream;
    stream.start();
  }

  private async linkUp(stream: { stop(): void }): Promise<void> {
    if (this.stream !== stream) return;
    try {
      await this.snapshot();
    } catch (e) {
      this.logger.warn(
        { gatewayId: this.config.id, err: errorText(e) },
        'openconnect: first listing failed; reconnecting',
      );
      stream.stop();
      return;
    }
    if (this.stream !== stream) return;
    this.linked = true;
    this.backoff = this.options.backoffMs?.initial ?? 250;
    this.logger.info({ gatewayId: this.config.id, serverPid: this.serverPid }, 'openconnect: linked to ocserv');
  }

  private linkDown(stream: object, why: string): void {
    if (this.stream !== stream) return;
    this.stream = null;
    const was = this.linked;
    this.linked = false;
    this.table.daemonGoing();
    if (was) {
      this.logger.warn({ gatewayId: this.config.id, why }, 'openconnect: lost ocserv');
      this.emit({ type: 'link-down', error: why });
    }
    if (!this.running) return;
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, this.options.backoffMs?.max ?? 5_000);
  }

  private async onEvent(event: OcservEvent): Promise<void> {
    if (event.kind === 'disconnected') return this.table.disconnected(event.id, event.reason);
    try {
      // ocserv announces the tunnel a moment before it lists it as `connected`.
      for (let i = 0; i < 20 && this.running; i += 1) {
        const user = await this.occtl.user(event.id);
        if (!user) return;
        if (user.state === 'connected') return this.table.connected(user);
        await sleep(100);
      }
    } catch (e) {
      this.logger.debug(
        { gatewayId: this.config.id, err: errorText(e) },
        'openconnect: could not read a new tunnel; the next listing will',
      );
    }
  }

  /** `show status` then `-j show users`: a new ocserv instance ends every tunnel of the old one first. */
  private async readListing(): Promise<void> {
    const status = await this.occtl.status();
    if (this.serverPid !== null && status.serverPid !== this.serverPid) {
      this.logger.info(
        { gatewayId: this.config.id, serverPid: status.serverPid, was: this.serverPid },
        'openconnect: new ocserv instance',
      );
      this.table.endAll('GATEWAY_RESTART');
    }
    this.serverPid = status.serverPid;
    this.startedAt = status.startedAt;
    const users = await this.occtl.users();
    this.table.applyListing(users, this.startedAt);
  }

  /** Liveness: `show status` in time. A stalled ocserv must fail disconnects at once, not queue them. */
  private async probe(): Promise<void> {
    if (!this.linked) return;
    let ok = true;
    try {
      await this.occtl.status(this.options.probe?.timeoutMs ?? 3_000);
    } catch (e) {
      if (e instanceof OcctlTimeoutError) ok = false;
      // Refused or gone: the event stream should have ended; make sure the link is re-made.
      else this.stream?.stop();
    }
    if (ok === this.responding) return;
    this.responding = ok;
    if (ok) this.logger.info({ gatewayId: this.config.id }, 'openconnect: ocserv answers again');
    else
      this.logger.warn(
        { gatewayId: this.config.id },
        'openconnect: ocserv is not responding; disconnects fail at once until it answers',
      );
    this.emit({ type: 'responding', responding: ok });
  }
}

function left(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
