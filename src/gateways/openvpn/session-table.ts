/**
 * The live sessions of the current daemon instance, by Client ID, kept from `status 3` reads and from
 * `>CLIENT:` notifications, and turned into adapter events. Observe mode has no `>CLIENT:DISCONNECT`,
 * so there each status read also reports the difference to the previous one.
 */
import type { GatewayIdentity } from '../../domain/gateway.js';
import type { EndCause, SessionReport, Transport } from '../../domain/session.js';
import type { AdapterEvent } from '../adapter.js';
import type { Notification } from './notification-parser.js';
import {
  clientInfoOf,
  reportFromEnv,
  reportFromRow,
  sessionRef,
  transportOf,
  type ClientInfo,
} from './session-reports.js';
import type { StatusRow } from './status-parser.js';

type Ended = Extract<AdapterEvent, { type: 'session.disconnected' }>;

export class SessionTable {
  private sessions = new Map<number, SessionReport>();
  /** `sessions` reflects a status read on the current link and instance. */
  private fresh = false;
  /** IV_VER/IV_PLAT from ENV blocks: `status 3` has no client version. */
  private readonly info = new Map<number, ClientInfo>();
  /**
   * The instance's UDP or TCP, from the latest ENV block that says (`status 3` does not; see
   * docs/openvpn-gateways.md, "Transport"). An OpenVPN 2.6 server listens on one socket, so every
   * client of the instance shares it: sessions that were up when the agent attached get it too.
   */
  private transport: Transport | null = null;
  /**
   * Client IDs the adapter killed: hidden from reports from the kill on (over UDP the daemon lists
   * them for seconds more), their end is an ADMIN_DISCONNECT, reported once. Forgotten once unlisted.
   */
  private readonly killed = new Map<number, { reported: boolean }>();
  /**
   * Client ends from `>CLIENT:DISCONNECT`, held back briefly: when the daemon stops or soft-restarts it
   * first sends a DISCONNECT for every client and only then `>STATE:…,EXITING|RECONNECTING` (or closes
   * the link), so the cause is known only a moment later.
   */
  private held: Ended[] = [];
  private heldTimer: NodeJS.Timeout | undefined;
  /**
   * Client IDs announced by `>CLIENT:ESTABLISHED` while a status read was in flight. The reply may
   * predate them: a notification that follows the reply's END in the same chunk is handled before
   * the code awaiting the reply resumes. Such a read cannot say they are gone.
   */
  private announcedDuringRead: Set<number> | null = null;

  constructor(
    private readonly emit: (event: AdapterEvent) => void,
    private readonly diffStatus: boolean,
    private readonly holdMs = 100,
    /** Which verified identity is the session's user (see `userNameOf`). */
    private readonly identity: GatewayIdentity = 'certificate',
  ) {}

  get(clientId: number): SessionReport | undefined {
    return this.sessions.get(clientId);
  }

  /** A new daemon instance: nothing of the old one applies. */
  reset(): void {
    this.flush('GATEWAY_RESTART');
    this.sessions = new Map();
    this.fresh = false;
    this.info.clear();
    this.transport = null;
    this.killed.clear();
    this.announcedDuringRead = null;
  }

  /** Every session known is over (its daemon is gone): each is reported ended with `cause`. */
  endAll(cause: EndCause): void {
    this.flush(cause);
    const at = Date.now();
    for (const s of this.sessions.values()) this.emit({ type: 'session.disconnected', ref: s.ref, cause, at });
    this.sessions = new Map();
  }

  /** The link dropped: events may have been missed, so the next status read is a snapshot, not a diff. */
  markStale(): void {
    this.fresh = false;
  }

  /** The daemon is exiting or restarting: the ends just received are GATEWAY_RESTART. */
  daemonGoing(): void {
    this.flush('GATEWAY_RESTART');
  }

  /** Emits the held ends (at once, e.g. on stop). */
  flush(cause?: EndCause): void {
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    for (const e of this.held.splice(0)) this.emit(cause ? { ...e, cause } : e);
  }

  isKilled(clientId: number): boolean {
    return this.killed.has(clientId);
  }

  /** Before the kill is sent: the daemon's DISCONNECT can arrive ahead of its reply. */
  markKilled(clientId: number): void {
    this.killed.set(clientId, { reported: false });
  }

  /** The kill failed or was refused. */
  unmarkKilled(clientId: number): void {
    this.killed.delete(clientId);
  }

  /** Call right before sending `status 3`; `applyStatus` then knows which sessions are newer than its reply. */
  statusReadStarted(): void {
    this.announcedDuringRead = new Set();
  }

  /** Applies a status read; emits a snapshot when asked or when the table was stale, else (observe mode) the deltas. */
  applyStatus(instance: number, rows: StatusRow[], emitSnapshot: boolean, listedClientIds?: ReadonlySet<number>): void {
    const listed = new Set([...rows.map((row) => row.clientId), ...(listedClientIds ?? [])]);
    const current = new Map(
      rows
        .filter((row) => !this.killed.has(row.clientId))
        .map((row) => [
          row.clientId,
          reportFromRow(instance, row, this.info.get(row.clientId), this.identity, this.transport),
        ]),
    );
    // Announced by >CLIENT:ESTABLISHED and still listed, only without its address for a moment: not gone.
    for (const [cid, s] of this.sessions)
      if (!current.has(cid) && listed.has(cid) && !this.killed.has(cid)) current.set(cid, s);
    // Announced while this read was in flight: newer than the reply, kept until the next read says otherwise.
    const announced = this.announcedDuringRead;
    for (const cid of announced ?? []) {
      const s = this.sessions.get(cid);
      if (s && !current.has(cid) && !this.killed.has(cid)) current.set(cid, s);
    }
    this.announcedDuringRead = null;
    const wasFresh = this.fresh;
    // A UDP client that floated (the server's `float`): same Client ID, new address. Or the instance's
    // transport, learnt from a client's ENV block since the last read, for sessions listed before it.
    // A snapshot carries either to the store at once rather than at the next periodic one.
    const changed = [...current].some(([cid, s]) => {
      const before = this.sessions.get(cid);
      return before !== undefined && (before.clientAddress !== s.clientAddress || before.transport !== s.transport);
    });
    if (wasFresh && this.diffStatus) {
      for (const [cid, s] of this.sessions) if (!current.has(cid)) this.ended(cid, s.ref, {});
      for (const [cid, s] of current) if (!this.sessions.has(cid)) this.emit({ type: 'session.connected', session: s });
    }
    // What the ENV blocks told of those announced during the read (their client version) is newer too.
    for (const cid of this.info.keys()) if (!listed.has(cid) && !announced?.has(cid)) this.info.delete(cid);
    for (const cid of this.killed.keys()) if (!listed.has(cid) && !announced?.has(cid)) this.killed.delete(cid);
    this.sessions = current;
    this.fresh = true;
    if (emitSnapshot || !wasFresh || changed)
      this.emit({ type: 'snapshot', daemonStartedAt: instance * 1000, sessions: [...current.values()] });
  }

  /** `>CLIENT:` blocks: ESTABLISHED (both modes) and DISCONNECT (authorize mode only) are reported. */
  applyClient(instance: number, n: Extract<Notification, { kind: 'client' }>): void {
    this.transport = transportOf(n.env) ?? this.transport;
    if (n.event === 'CONNECT' || n.event === 'REAUTH' || n.event === 'ESTABLISHED')
      this.info.set(n.cid, clientInfoOf(n.env));
    if (n.event === 'ESTABLISHED') {
      const session = reportFromEnv(instance, n.cid, n.env, this.identity);
      this.sessions.set(n.cid, session);
      this.announcedDuringRead?.add(n.cid);
      this.emit({ type: 'session.connected', session });
    } else if (n.event === 'DISCONNECT') {
      const known = this.sessions.delete(n.cid);
      this.info.delete(n.cid);
      // Denied and half-authenticated clients were never sessions.
      if (known || this.killed.has(n.cid)) {
        this.ended(
          n.cid,
          sessionRef(instance, n.cid),
          { bytesReceived: count(n.env.bytes_received), bytesSent: count(n.env.bytes_sent) },
          true,
        );
      }
      this.killed.delete(n.cid);
    }
  }

  private ended(cid: number, ref: string, bytes: { bytesReceived?: number; bytesSent?: number }, hold = false): void {
    const killed = this.killed.get(cid);
    if (killed?.reported) return;
    if (killed) killed.reported = true;
    const event: Ended = {
      type: 'session.disconnected',
      ref,
      cause: killed ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT',
      at: Date.now(),
      ...bytes,
    };
    if (killed || !hold) return this.emit(event);
    this.held.push(event);
    clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(() => this.flush(), this.holdMs);
  }
}

function count(text: string | undefined): number | undefined {
  const n = Number(text);
  return text !== undefined && text !== '' && Number.isFinite(n) ? n : undefined;
}
