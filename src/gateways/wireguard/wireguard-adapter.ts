/**
 * The WireGuard adapter: one interface, read every poll interval over its UAPI socket or with `wg`
 * (the entry's `control`; wireguard-control.ts). WireGuard has
 * no sessions and tells nobody anything, so this adapter makes them (see docs/wireguard-gateways.md):
 * - A peer is online while its last handshake is at most `handshakeWindowSeconds` old (default 180:
 *   a live peer handshakes at least every 120 s, REKEY_AFTER_TIME, plus slack). Its session begins at
 *   the first handshake after being offline and ends when the peer is removed, leaves the window, or
 *   the interface restarts. Ref = `<public key>:<first handshake, ms>`: never reused.
 * - Disconnect = remove the peer, then read back that it is gone. RESTART re-adds it at once with its
 *   full configuration (the client's next handshake is a new session); HALT leaves it out; a block
 *   holds it out (persisted, with its configuration) until the block ends, then restores it exactly.
 *   A held peer that someone re-adds is removed again and reported (`auth-denied`, audited).
 * - The client is never told: WireGuard cannot carry a message.
 * - The interface instance is the socket file's inode and change time (a restarted wireguard-go makes
 *   a new socket), or a kernel interface's index. A new instance ends every session as GATEWAY_RESTART.
 */
import {
  GatewayUnavailableError,
  type AdapterEvent,
  type DisconnectCommand,
  type DisconnectConfirmation,
  type GatewayAdapter,
  type WireGuardGatewayConfig,
} from '../adapter.js';
import type { BlockEntry } from '../../domain/block.js';
import type { GatewayCapabilities } from '../../domain/gateway.js';
import type { EndCause, SessionReport } from '../../domain/session.js';
import { errorText } from '../../domain/errors.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { UapiControl } from './uapi.js';
import { WgCommandControl } from './wg-command.js';
import type { WireGuardControl, WireGuardDevice, WireGuardPeer } from './wireguard-control.js';
import { readState, writeState, type HeldPeer, type WireGuardState } from './wireguard-state.js';
import { everyIntervalSpread } from '../periodic.js';

export const DEFAULT_HANDSHAKE_WINDOW_SECONDS = 180;
/** A block set here by a disconnect survives a list from the control plane that lacks it for this long (its commit may be on the way). */
const UNCONFIRMED_GRACE_MS = 30_000;

export interface WireGuardAdapterOptions {
  logger?: Logger;
  /** Deadline of each request of the adapter's own (reads, restores), default 3 000 ms. */
  commandTimeoutMs?: number;
  now?: () => number;
}

interface Tracked {
  ref: string;
  connectedAt: number;
}

export class WireGuardAdapter implements GatewayAdapter {
  private readonly logger: Logger;
  private readonly control: WireGuardControl;
  private readonly windowMs: number;
  private readonly users: Map<string, string>;
  private readonly statePath: string;
  private readonly now: () => number;
  private emit: (event: AdapterEvent) => void = () => {};
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private connected = false;
  private responding = true;
  private instance: string | null = null;
  private daemonStartedAt: number | null = null;
  private state: WireGuardState;
  /** Peers removed by a disconnect in flight: their disappearance is the operator's. */
  private readonly removing = new Set<string>();
  /** Reads and changes of the interface, one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: WireGuardGatewayConfig,
    private readonly options: WireGuardAdapterOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.control =
      config.control === 'wg'
        ? new WgCommandControl(config.interface)
        : new UapiControl(config.socket ?? `/var/run/wireguard/${config.interface}.sock`);
    this.windowMs = (config.handshakeWindowSeconds ?? DEFAULT_HANDSHAKE_WINDOW_SECONDS) * 1000;
    this.users = new Map(config.peers.map((p) => [p.publicKey, p.user]));
    this.statePath = config.stateFile ?? `data/wireguard-${config.id}.json`;
    this.now = options.now ?? Date.now;
    this.state = readState(this.statePath);
  }

  start(onEvent: (event: AdapterEvent) => void): void {
    if (this.running) return;
    this.running = true;
    this.emit = onEvent;
    this.timers.push(setInterval(() => void this.poll(false), (this.config.pollIntervalSeconds ?? 1) * 1000));
    everyIntervalSpread(this.timers, this.config.snapshotIntervalMs ?? 10_000, () => void this.poll(true));
    void this.poll(true);
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.emit = () => {};
    await this.chain.catch(() => undefined);
  }

  isConnected(): boolean {
    return this.connected;
  }

  isResponding(): boolean {
    return this.responding;
  }

  /** WireGuard can always keep a peer out: the block is the peer's absence. */
  capabilities(): GatewayCapabilities {
    return { canBlock: true, warning: null };
  }

  snapshot(): Promise<void> {
    return this.serial(() => this.read(true));
  }

  setBlocks(blocks: BlockEntry[], lifted: string[] = []): void {
    const now = this.now();
    const until = new Map(blocks.map((b) => [b.userName, b.until]));
    for (const held of this.state.held) {
      const listed = until.get(held.userName);
      if (lifted.includes(held.userName)) held.until = 0;
      else if (listed !== undefined) held.until = listed;
      else if (now - held.heldAt >= UNCONFIRMED_GRACE_MS) held.until = 0;
    }
    this.save();
    void this.serial(() => this.restoreDue()).catch((e: unknown) =>
      this.logger.warn(
        { gatewayId: this.config.id, err: errorText(e) },
        'wireguard: restoring held peers failed; retried at the next poll',
      ),
    );
  }

  async disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation> {
    if (!this.connected) throw new GatewayUnavailableError('the interface is not reachable');
    const deadline = this.now() + deadlineMs;
    return this.serial(async () => {
      // Queued behind a read that found the interface stalled or gone: nothing is sent.
      if (!this.connected) throw new GatewayUnavailableError('the interface is not reachable');
      const publicKey = command.ref.slice(0, command.ref.lastIndexOf(':'));
      if (this.state.sessions[publicKey]?.ref !== command.ref) return 'NOT_FOUND';
      const left = () => Math.max(1, deadline - this.now());
      const peer = (await this.control.read(left())).peers.find((p) => p.publicKey === publicKey);
      if (!peer) return 'NOT_FOUND';
      const userName = this.userOf(publicKey);
      // Held (and saved) before it is removed: a crash in between still knows how to restore it.
      if (command.blockSeconds) this.hold(peer, userName, this.now() + command.blockSeconds * 1000);
      this.removing.add(publicKey);
      try {
        await this.control.removePeer(publicKey, left());
        const back = await this.control.read(left());
        if (back.peers.some((p) => p.publicKey === publicKey))
          throw new GatewayUnavailableError('the peer is still on the interface after its removal', {
            mayTakeEffect: true,
          });
      } catch (e) {
        const failure =
          e instanceof GatewayUnavailableError ? e : new GatewayUnavailableError(errorText(e), { mayTakeEffect: true });
        // A removal that may still run (a stalled wireguard-go runs it when it resumes) must not leave
        // the peer out for good: a block keeps its hold (restored when the block ends or is lifted), and
        // a RESTART is held until now, so the next poll that reads the interface adds the peer back.
        if (!failure.mayTakeEffect) {
          if (command.blockSeconds) this.unhold(publicKey);
        } else if (command.mode === 'RESTART' && !command.blockSeconds) this.hold(peer, userName, this.now());
        throw failure;
      } finally {
        this.removing.delete(publicKey);
      }
      this.end(publicKey, 'ADMIN_DISCONNECT', peer);
      if (command.mode === 'RESTART' && !command.blockSeconds) await this.restore(peer);
      this.logger.info(
        { gatewayId: this.config.id, ref: command.ref, mode: command.mode, blockSeconds: command.blockSeconds ?? 0 },
        'wireguard: peer removed',
      );
      return 'ENDED';
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async poll(snapshot: boolean): Promise<void> {
    if (!this.running) return;
    await this.serial(async () => {
      await this.read(snapshot);
      await this.restoreDue();
    }).catch((e: unknown) =>
      this.logger.debug({ gatewayId: this.config.id, err: errorText(e) }, 'wireguard: poll failed'),
    );
  }

  /** Reads the interface: link state, instance, re-added held peers, sessions begun and ended. */
  private async read(snapshot: boolean): Promise<void> {
    let device: WireGuardDevice;
    try {
      device = await this.control.read(this.timeoutMs);
    } catch (e) {
      const timedOut = /no answer/.test(errorText(e));
      this.setResponding(!timedOut);
      if (this.connected) {
        this.connected = false;
        this.emit({ type: 'link-down', error: errorText(e) });
      }
      throw e;
    }
    this.setResponding(true);
    const first = !this.connected;
    this.connected = true;
    this.checkInstance();
    await this.removeReadded(device);
    const listed = new Map(device.peers.map((p) => [p.publicKey, p]));
    for (const publicKey of Object.keys(this.state.sessions)) {
      const peer = listed.get(publicKey);
      if (!peer) this.end(publicKey, this.removing.has(publicKey) ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT');
      else if (!this.online(peer)) this.end(publicKey, 'CLIENT_DISCONNECT', peer);
    }
    for (const peer of device.peers) {
      if (!this.online(peer) || this.state.sessions[peer.publicKey]) continue;
      const session: Tracked = { ref: `${peer.publicKey}:${peer.lastHandshakeAt}`, connectedAt: peer.lastHandshakeAt };
      this.state.sessions[peer.publicKey] = session;
      this.save();
      // The first read's snapshot is the announcement; after it every session begun is announced (a snapshot read too).
      if (!first) this.emit({ type: 'session.connected', session: this.report(peer, session) });
    }
    if (first || snapshot) {
      const sessions = device.peers
        .filter((p) => this.state.sessions[p.publicKey])
        .map((p) => this.report(p, this.state.sessions[p.publicKey]!));
      this.emit({ type: 'snapshot', daemonStartedAt: this.daemonStartedAt, sessions });
    }
  }

  /** A new socket file (or interface index) is a new interface instance: its sessions are not the old ones. */
  private checkInstance(): void {
    const now = this.control.instance();
    if (!now) return;
    const instance = now.id;
    this.daemonStartedAt = now.startedAt;
    if (instance === this.instance) return;
    if (this.instance !== null || (this.state.instance !== null && this.state.instance !== instance)) {
      this.logger.info({ gatewayId: this.config.id, instance }, 'wireguard: new interface instance');
      for (const publicKey of Object.keys(this.state.sessions)) this.end(publicKey, 'GATEWAY_RESTART');
    }
    this.instance = instance;
    this.state.instance = instance;
    this.save();
  }

  private online(peer: WireGuardPeer): boolean {
    return peer.lastHandshakeAt > 0 && this.now() - peer.lastHandshakeAt <= this.windowMs;
  }

  private end(publicKey: string, cause: EndCause, peer?: WireGuardPeer): void {
    const session = this.state.sessions[publicKey];
    if (!session) return;
    delete this.state.sessions[publicKey];
    this.save();
    this.emit({
      type: 'session.disconnected',
      ref: session.ref,
      cause,
      at: this.now(),
      ...(peer ? { bytesReceived: peer.rxBytes, bytesSent: peer.txBytes } : {}),
    });
  }

  private report(peer: WireGuardPeer, session: Tracked): SessionReport {
    const v4 = peer.allowedIps.find((ip) => !ip.includes(':'));
    const v6 = peer.allowedIps.find((ip) => ip.includes(':'));
    return {
      ref: session.ref,
      userName: this.userOf(peer.publicKey),
      commonName: peer.publicKey,
      clientAddress: peer.endpoint,
      virtualAddress: v4 ? v4.replace(/\/32$/, '') : null,
      virtualAddress6: v6 ? v6.replace(/\/128$/, '') : null,
      connectedAt: session.connectedAt,
      bytesReceived: peer.rxBytes,
      bytesSent: peer.txBytes,
      clientVersion: null,
      clientPlatform: null,
      // WireGuard has no TCP mode.
      transport: 'UDP',
    };
  }

  /** A peer's user from the gateway entry; an unmapped peer is its public key. */
  private userOf(publicKey: string): string {
    return this.users.get(publicKey) ?? publicKey;
  }

  private hold(peer: WireGuardPeer, userName: string, until: number): void {
    this.unhold(peer.publicKey);
    this.state.held.push({
      publicKey: peer.publicKey,
      userName,
      until,
      heldAt: this.now(),
      presharedKey: peer.presharedKey,
      allowedIps: peer.allowedIps,
      persistentKeepalive: peer.persistentKeepalive,
    });
    this.save();
  }

  private unhold(publicKey: string): void {
    this.state.held = this.state.held.filter((h) => h.publicKey !== publicKey);
    this.save();
  }

  /** Held peers someone put back while their block runs: out again, and reported. */
  private async removeReadded(device: WireGuardDevice): Promise<void> {
    const now = this.now();
    for (const held of this.state.held) {
      const peer = device.peers.find((p) => p.publicKey === held.publicKey);
      if (!peer || held.until <= now) continue;
      await this.control.removePeer(held.publicKey, this.timeoutMs);
      device.peers = device.peers.filter((p) => p !== peer);
      this.logger.warn(
        { gatewayId: this.config.id, userName: held.userName },
        'wireguard: a held peer was re-added while blocked; removed again',
      );
      this.emit({
        type: 'auth-denied',
        userName: held.userName,
        clientAddress: peer.endpoint,
        at: now,
        reason: `peer re-added while blocked for ${Math.ceil((held.until - now) / 1000)} more seconds; removed again`,
      });
    }
  }

  /** Held peers whose block ended (or was lifted): back on the interface exactly as they were. */
  private async restoreDue(): Promise<void> {
    if (!this.connected) return;
    for (const held of this.state.held.filter((h) => h.until <= this.now())) {
      await this.restore(held);
      this.unhold(held.publicKey);
      this.logger.info({ gatewayId: this.config.id, userName: held.userName }, 'wireguard: block ended; peer restored');
    }
  }

  private async restore(
    peer: Pick<HeldPeer, 'publicKey' | 'presharedKey' | 'allowedIps' | 'persistentKeepalive'>,
  ): Promise<void> {
    await this.control.addPeer(peer, this.timeoutMs);
  }

  /** Deadline of each request of the adapter's own (reads, restores). */
  private get timeoutMs(): number {
    return this.options.commandTimeoutMs ?? 3000;
  }

  private setResponding(responding: boolean): void {
    if (responding === this.responding) return;
    this.responding = responding;
    this.emit({ type: 'responding', responding });
  }

  private save(): void {
    try {
      writeState(this.statePath, this.state);
    } catch (e) {
      this.logger.error(
        { gatewayId: this.config.id, path: this.statePath, err: errorText(e) },
        'wireguard: cannot write the state file',
      );
    }
  }
}
