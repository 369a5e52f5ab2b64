/**
 * The tunnels of the current ocserv instance, kept from full listings and from the event stream, and
 * turned into adapter events. Keyed by ref (`<worker pid>:<safe id>`); the event stream names only
 * the worker pid, which at the moment of the event belongs to exactly one listed tunnel.
 */
import type { EndCause, SessionReport } from '../../domain/session.js';
import type { AdapterEvent } from '../adapter.js';
import type { OcservUser } from './occtl-output.js';
import { reportOf, sessionRef } from './session-ref.js';

/** Reasons ocserv gives that only the client's side (or its silence) causes. */
const CLIENT_SIDE = new Set(['user disconnected', 'idle timeout', 'DPD timeout', 'session timeout']);

type Ended = Extract<AdapterEvent, { type: 'session.disconnected' }>;

export class OcservSessionTable {
  private sessions = new Map<string, SessionReport>();
  /** First `connectedAt` seen per ref: occtl prints an age, which would move it on every read. */
  private readonly firstSeen = new Map<string, number>();
  /** Refs the adapter ended: hidden from reports, their end is an ADMIN_DISCONNECT, reported once. */
  private readonly killed = new Set<string>();
  /**
   * Ends from the event stream without a reason of the client's side, held back: when ocserv stops it
   * reports every tunnel as disconnected (reason `unknown`) at once, but closes the stream only when
   * it exits, which took 2.2 s with three clients: the cause is known that much later.
   */
  private held: Ended[] = [];
  private heldTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (event: AdapterEvent) => void,
    private readonly holdMs = 5_000,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(ref: string): SessionReport | undefined {
    return this.sessions.get(ref);
  }

  /** The tunnel listed under worker `pid`, if any. */
  byPid(pid: number): SessionReport | undefined {
    const prefix = `${pid}:`;
    for (const [ref, s] of this.sessions) if (ref.startsWith(prefix)) return s;
    return undefined;
  }

  isKilled(ref: string): boolean {
    return this.killed.has(ref);
  }

  /** Before `disconnect id` is sent: ocserv's disconnect event can arrive ahead of occtl's answer. */
  markKilled(ref: string): void {
    this.killed.add(ref);
  }

  unmarkKilled(ref: string): void {
    this.killed.delete(ref);
  }

  /** A full listing: replaces the table and emits it as a snapshot. Only `connected` users are sessions. */
  applyListing(users: OcservUser[], daemonStartedAt: number | null): void {
    const current = new Map<string, SessionReport>();
    for (const u of users) {
      if (u.state !== 'connected') continue;
      const report = this.report(u);
      if (!this.killed.has(report.ref)) current.set(report.ref, report);
    }
    // Ended by the adapter and leaving the table here rather than by its disconnect event: report it now.
    const at = Date.now();
    for (const [ref, s] of this.sessions) {
      if (this.killed.has(ref))
        this.emit({
          type: 'session.disconnected',
          ref,
          cause: 'ADMIN_DISCONNECT',
          at,
          bytesReceived: s.bytesReceived,
          bytesSent: s.bytesSent,
        });
    }
    const listed = new Set(users.map(sessionRef));
    for (const ref of this.killed) if (!listed.has(ref)) this.killed.delete(ref);
    for (const ref of this.firstSeen.keys()) if (!listed.has(ref)) this.firstSeen.delete(ref);
    this.sessions = current;
    this.emit({ type: 'snapshot', daemonStartedAt, sessions: [...current.values()] });
  }

  /** A connect event, completed with `show id`. */
  connected(user: OcservUser): void {
    if (user.state !== 'connected') return;
    const report = this.report(user);
    if (this.sessions.has(report.ref) || this.killed.has(report.ref)) return;
    this.sessions.set(report.ref, report);
    this.emit({ type: 'session.connected', session: report });
  }

  /** A disconnect event for worker `pid`, with ocserv's reason (`user disconnected`, `unknown`…). */
  disconnected(pid: number, reason: string): void {
    const s = this.byPid(pid);
    if (!s) return;
    this.sessions.delete(s.ref);
    this.firstSeen.delete(s.ref);
    const admin = this.killed.delete(s.ref);
    const event: Ended = {
      type: 'session.disconnected',
      ref: s.ref,
      cause: admin ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT',
      at: Date.now(),
      bytesReceived: s.bytesReceived,
      bytesSent: s.bytesSent,
    };
    if (admin || CLIENT_SIDE.has(reason)) return this.emit(event);
    this.held.push(event);
    this.heldTimer ??= setTimeout(() => this.flush(), this.holdMs);
  }

  /** ocserv is gone or restarting: the ends just received are its doing. */
  daemonGoing(): void {
    this.flush('GATEWAY_RESTART');
  }

  /** A new ocserv instance: every tunnel of the old one is over. */
  endAll(cause: EndCause): void {
    this.flush(cause);
    const at = Date.now();
    for (const s of this.sessions.values()) this.emit({ type: 'session.disconnected', ref: s.ref, cause, at });
    this.sessions = new Map();
    this.firstSeen.clear();
    this.killed.clear();
  }

  /** Emits the held ends now (with `cause` instead of theirs, if given). */
  flush(cause?: EndCause): void {
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    for (const e of this.held.splice(0)) this.emit(cause ? { ...e, cause } : e);
  }

  private report(user: OcservUser): SessionReport {
    const ref = sessionRef(user);
    let at = this.firstSeen.get(ref);
    if (at === undefined) {
      at = user.connectedAt;
      this.firstSeen.set(ref, at);
    }
    return reportOf(user, at);
  }
}
