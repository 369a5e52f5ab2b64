/**
 * The IKEv2 adapter: one VICI connection to a strongSwan charon. Sessions are IKE SAs, read with
 * `list-sas` on every (re)connect and every `snapshotIntervalMs`, and followed live through the
 * `ike-updown`, `child-updown` and `ike-rekey` events; a disconnect is a VICI `terminate` of that one
 * IKE SA, which sends the peer an RFC 7296 DELETE.
 *
 * Facts this relies on (strongSwan 5.9.8; see docs/ikev2-gateways.md):
 * - charon answers a connection's requests in order. A charon restart closes the socket, so every
 *   unique id the table holds belongs to the charon at the other end of the current connection; a
 *   terminate is only sent on the connection whose `list-sas` filled the table.
 * - `terminate` with `timeout` waits up to that long for the peer's answer to the DELETE and replies
 *   `success yes` only when the SA was deleted; `no matching SAs` means it is already gone.
 * - charon cannot refuse a returning peer on our behalf (no VICI hook into authentication), so this
 *   adapter cannot block: `capabilities().canBlock` is false and core refuses `blockSeconds`.
 * - IKEv2 has no "stay down" message: HALT and RESTART both send the same DELETE. Whether the peer
 *   comes back is its own setting (a swanctl client's `close_action`, a phone's "VPN on demand").
 */
import {
  GatewayUnavailableError,
  type AdapterEvent,
  type DisconnectCommand,
  type DisconnectConfirmation,
  type GatewayAdapter,
  type Ikev2GatewayConfig,
} from '../adapter.js';
import type { GatewayCapabilities } from '../../domain/gateway.js';
import { errorText } from '../../domain/errors.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { ikeSasOf, uniqueIdOf, type IkeSa } from './ike-sa.js';
import { IkeSessionTable } from './ike-session-table.js';
import { emptyMessage, type ViciMessage } from './vici-codec.js';
import { ViciConnection, ViciRequestError } from './vici-client.js';
import { daemonStartedAtOf, terminateOutcome } from './vici-replies.js';
import { everyIntervalSpread } from '../periodic.js';

export interface Ikev2AdapterOptions {
  logger?: Logger;
  /** Deadline of the adapter's own requests (`list-sas`, `stats`, registrations), default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Liveness probe (`version`) while connected: how often (default 2 000 ms) and how long an answer may take (3 000 ms). */
  probe?: { intervalMs?: number; timeoutMs?: number };
  /** Reconnect backoff, doubling from `backoffInitialMs` (250) to `backoffMaxMs` (5 000). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

const EVENTS = ['ike-updown', 'child-updown', 'ike-rekey'] as const;

export class Ikev2Adapter implements GatewayAdapter {
  private readonly logger: Logger;
  private readonly table: IkeSessionTable;
  private emit: (event: AdapterEvent) => void = () => {};
  private vici: ViciConnection | null = null;
  /** Set once `list-sas` filled the table on the current connection. */
  private ready = false;
  private running = false;
  private daemonStartedAt: number | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private probing = false;
  /** Listings run one after another (see `list`); `listings` counts those started and not finished. */
  private listChain: Promise<unknown> = Promise.resolve();
  private listings = 0;

  constructor(
    readonly config: Ikev2GatewayConfig,
    private readonly options: Ikev2AdapterOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.table = new IkeSessionTable((event) => this.emit(event));
    this.backoffMs = options.backoffInitialMs ?? 250;
  }

  start(onEvent: (event: AdapterEvent) => void): void {
    if (this.running) return;
    this.running = true;
    this.emit = onEvent;
    void this.connect();
    everyIntervalSpread(this.timers, this.config.snapshotIntervalMs ?? 10_000, () => this.tick());
    this.timers.push(setInterval(() => this.probe(), this.options.probe?.intervalMs ?? 2_000));
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.reconnectTimer);
    this.emit = () => {};
    this.vici?.close('the adapter stopped');
    this.vici = null;
  }

  isConnected(): boolean {
    return this.ready && !!this.vici && !this.vici.closed;
  }

  /** charon is multi-threaded; one that stops answering fails the probe, which closes the connection. */
  isResponding(): boolean {
    return this.isConnected();
  }

  capabilities(): GatewayCapabilities {
    return { canBlock: false, warning: null };
  }

  snapshot(): Promise<void> {
    const vici = this.vici;
    if (!vici || vici.closed) return Promise.reject(new GatewayUnavailableError('the VICI connection is down'));
    return this.list(vici);
  }

  async disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation> {
    const deadline = Date.now() + deadlineMs;
    const vici = this.vici;
    if (!vici || vici.closed || !this.ready) throw new GatewayUnavailableError('the VICI connection to charon is down');
    if (command.blockSeconds)
      throw new GatewayUnavailableError('strongSwan gateways cannot block users; nothing was sent');
    if (uniqueIdOf(command.ref) === null) return 'NOT_FOUND';
    const known = this.table.find(command.ref);
    if (!known) return 'NOT_FOUND';
    if (command.userName && known.userName !== command.userName) {
      this.logger.warn(
        { gatewayId: this.config.id, ref: command.ref },
        'ikev2: ref now belongs to another user; not terminating',
      );
      return 'NOT_FOUND';
    }
    // charon waits for the peer's answer to the DELETE up to `timeout`; our own wait is a little longer.
    const charonWaitMs = Math.max(1, deadline - Date.now() - 50);
    const request = Object.assign(emptyMessage(), { 'ike-id': String(known.uniqueId), timeout: String(charonWaitMs) });
    this.table.markTerminated(known.uniqueId);
    let reply: ViciMessage;
    try {
      reply = await vici.command('terminate', request, Math.max(1, deadline - Date.now()));
    } catch (e) {
      const written = e instanceof ViciRequestError ? e.written : true;
      // Written: charon may still delete it, and that end is then the operator's.
      if (!written) this.table.unmarkTerminated(known.uniqueId);
      throw new GatewayUnavailableError(`terminate not confirmed: ${errorText(e)}`, { mayTakeEffect: written });
    }
    const outcome = terminateOutcome(reply);
    if (outcome.kind === 'terminated') {
      this.logger.info(
        { gatewayId: this.config.id, ref: command.ref, ikeId: known.uniqueId, mode: command.mode },
        'ikev2: IKE SA terminated',
      );
      return 'ENDED';
    }
    if (outcome.kind === 'not-found') {
      this.table.unmarkTerminated(known.uniqueId);
      return 'NOT_FOUND';
    }
    // charon sent the DELETE but the peer did not answer in time: charon keeps retransmitting and
    // deletes the SA when the peer answers or it gives up, so the disconnect may still take effect
    // (and its end, when charon reports it, is the operator's).
    throw new GatewayUnavailableError(`charon did not confirm the terminate: ${outcome.message}`, {
      mayTakeEffect: true,
    });
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    let vici: ViciConnection | null = null;
    try {
      vici = await ViciConnection.open(
        this.config.vici,
        {
          onEvent: (name, message) => this.onEvent(name, message),
          onClose: (error) => this.onClose(vici, error),
        },
        timeoutMs,
      );
      if (!this.running) {
        vici.close('the adapter stopped');
        return;
      }
      this.vici = vici;
      for (const event of EVENTS) await vici.register(event, timeoutMs);
      await this.list(vici);
      this.backoffMs = this.options.backoffInitialMs ?? 250;
      this.logger.info({ gatewayId: this.config.id }, 'ikev2: connected to charon over VICI');
    } catch (e) {
      this.logger.warn({ gatewayId: this.config.id, err: errorText(e) }, 'ikev2: VICI connection failed; retrying');
      if (vici && !vici.closed) vici.close(errorText(e));
      else if (!vici) this.scheduleReconnect();
    }
  }

  private onClose(vici: ViciConnection | null, error: string): void {
    if (vici && vici !== this.vici) {
      this.scheduleReconnect();
      return;
    }
    const wasReady = this.ready;
    this.vici = null;
    this.ready = false;
    this.table.markStale();
    if (wasReady) this.emit({ type: 'link-down', error });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs ?? 5_000);
  }

  /**
   * One listing after another: charon's event registration is per connection, so a second listing
   * whose requests queue behind a stalled one would have its `list-sa` events unregistered by the
   * first one's end, read an empty list, and end every session.
   */
  private list(vici: ViciConnection): Promise<void> {
    this.listings++;
    const run = this.listChain.then(() => this.listOnce(vici)).finally(() => this.listings--);
    this.listChain = run.catch(() => undefined);
    return run;
  }

  /** `stats` (the daemon's start time) and `list-sas`, then a snapshot from this connection. */
  private async listOnce(vici: ViciConnection): Promise<void> {
    if (vici !== this.vici || vici.closed) throw new GatewayUnavailableError('the VICI connection is down');
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    // The start time is read once per connection (a charon restart closes it): `uptime.since` is
    // derived from the uptime and jitters by a second between reads.
    const startedAt = this.ready
      ? this.daemonStartedAt
      : stableStart(this.daemonStartedAt, daemonStartedAtOf(await vici.command('stats', emptyMessage(), timeoutMs)));
    const { events } = await vici.stream('list-sas', 'list-sa', emptyMessage(), timeoutMs);
    if (vici !== this.vici || vici.closed) return;
    const sas = events.flatMap((m) => this.sasOf(m));
    this.daemonStartedAt = startedAt;
    this.ready = true;
    this.table.applyList(sas, this.daemonStartedAt);
  }

  private tick(): void {
    const vici = this.vici;
    if (!vici || vici.closed || !this.ready || this.listings > 0) return;
    this.list(vici).catch((e: unknown) =>
      this.logger.debug({ gatewayId: this.config.id, err: errorText(e) }, 'ikev2: list-sas failed'),
    );
  }

  private probe(): void {
    const vici = this.vici;
    if (!vici || vici.closed || this.probing) return;
    this.probing = true;
    // No answer in time closes the connection (see ViciConnection): disconnects then fail at once.
    vici
      .command('version', emptyMessage(), this.options.probe?.timeoutMs ?? 3_000)
      .catch(() => undefined)
      .finally(() => {
        this.probing = false;
      });
  }

  private onEvent(name: string, message: ViciMessage): void {
    if (!this.ready) return; // the list that follows registration covers it
    if (name === 'ike-rekey') {
      for (const [conn, value] of Object.entries(message)) {
        if (typeof value === 'string' || Array.isArray(value)) continue;
        const [oldSa] = this.sasOf(Object.assign(emptyMessage(), { [conn]: value.old ?? emptyMessage() }));
        const [newSa] = this.sasOf(Object.assign(emptyMessage(), { [conn]: value.new ?? emptyMessage() }));
        if (oldSa && newSa) this.table.applyRekey(oldSa, newSa);
      }
      return;
    }
    const up = message.up === 'yes';
    const sas = this.sasOf(message);
    if (name === 'ike-updown') this.table.applyUpDown(sas, up);
    else if (name === 'child-updown') this.table.applyChildUpDown(sas, up);
  }

  private sasOf(message: ViciMessage): IkeSa[] {
    const { sas, invalid } = ikeSasOf(message);
    for (const problem of invalid)
      this.logger.warn(
        { gatewayId: this.config.id, problem },
        'ikev2: charon reported an IKE SA this adapter cannot read; ignored',
      );
    return sas;
  }
}

/**
 * The start time to report: a reading within 2 s of the previous one is the same charon (the reading
 * jitters); a charon restarted within those 2 s is still told apart by its sessions' refs, whose SPIs
 * are new, so its old sessions end as unlisted instead of as a restart.
 */
function stableStart(previous: number | null, read: number | null): number | null {
  if (read === null) return previous;
  return previous !== null && Math.abs(read - previous) <= 2_000 ? previous : read;
}
