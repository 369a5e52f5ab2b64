/**
 * The live IKE SAs of one charon, kept from `list-sas` reads and from the `ike-updown`,
 * `child-updown` and `ike-rekey` events, and turned into adapter events.
 *
 * - An IKE SA keeps its session across an IKE rekey (charon makes a new SA with a new unique id and
 *   new SPIs, and says so with `ike-rekey`): the table carries the ref over. A rekey that happens
 *   while no agent watches cannot be followed: that session then ends and the new SA is a new session.
 * - Bytes are the CHILD SAs' bytes. A CHILD SA that is rekeyed or closed takes its counters with it,
 *   so the counts of CHILD SAs that went away are kept and added, and a session's bytes never drop.
 * - `connectedAt` is fixed at first sight: charon says "established N s ago", which drifts.
 */
import type { EndCause, SessionReport } from '../../domain/session.js';
import type { AdapterEvent } from '../adapter.js';
import { childBytes, ikeSessionRef, isLive, reportOf, type IkeSa } from './ike-sa.js';

interface Entry {
  ref: string;
  /** The SPIs of the SA this entry is now (they change on an IKE rekey). */
  spis: string;
  sa: IkeSa;
  connectedAt: number;
  children: Map<number, { in: number; out: number }>;
  retired: { in: number; out: number };
}

const spisOf = (sa: IkeSa): string => `${sa['initiator-spi']}:${sa['responder-spi']}`;

export class IkeSessionTable {
  /** By the IKE SA's current unique id. */
  private entries = new Map<number, Entry>();
  /** Unique ids the adapter terminated: their end is an ADMIN_DISCONNECT. */
  private readonly terminated = new Set<number>();
  private fresh = false;

  constructor(
    private readonly emit: (event: AdapterEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the table reflects a `list-sas` read on the current connection. */
  get isFresh(): boolean {
    return this.fresh;
  }

  /** The entry a ref names, with the IKE SA's current unique id. */
  find(ref: string): { uniqueId: number; userName: string } | undefined {
    for (const [uniqueId, e] of this.entries)
      if (e.ref === ref) return { uniqueId, userName: reportOf(e.sa, 0, { received: 0, sent: 0 }).userName };
    return undefined;
  }

  markTerminated(uniqueId: number): void {
    this.terminated.add(uniqueId);
  }

  unmarkTerminated(uniqueId: number): void {
    this.terminated.delete(uniqueId);
  }

  /** The link dropped: the next list decides what is still there. */
  markStale(): void {
    this.fresh = false;
  }

  /**
   * A full `list-sas` read: replaces the table and emits a snapshot, after announcing the SAs that are
   * new to the table (their `ike-updown` came while no connection listened, or has not come yet) and,
   * when the table was read on this same connection, ending the ones whose down event was missed.
   */
  applyList(sas: IkeSa[], daemonStartedAt: number | null): void {
    const next = new Map<number, Entry>();
    for (const sa of sas.filter(isLive)) {
      const old = this.entries.get(sa.uniqueid);
      next.set(sa.uniqueid, old && old.spis === spisOf(sa) ? this.updated(old, sa) : this.entryOf(sa));
    }
    if (this.fresh) {
      for (const [id, e] of [...this.entries])
        if (next.get(id)?.ref !== e.ref)
          this.end(id, e, this.terminated.has(id) ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT');
    }
    const known = new Set([...this.entries.values()].map((e) => e.ref));
    this.entries = next;
    for (const e of next.values())
      if (!known.has(e.ref)) this.emit({ type: 'session.connected', session: this.report(e) });
    for (const id of this.terminated) if (!next.has(id)) this.terminated.delete(id);
    this.fresh = true;
    this.emit({ type: 'snapshot', daemonStartedAt, sessions: [...next.values()].map((e) => this.report(e)) });
  }

  /** `ike-updown`: `up` true for SAs that came up, false for SAs going down. */
  applyUpDown(sas: IkeSa[], up: boolean): void {
    for (const sa of sas) {
      const known = this.entries.get(sa.uniqueid);
      if (up && isLive(sa) && !known) {
        const e = this.entryOf(sa);
        this.entries.set(sa.uniqueid, e);
        this.emit({ type: 'session.connected', session: this.report(e) });
      } else if (!up && known && known.spis === spisOf(sa)) {
        this.end(
          sa.uniqueid,
          this.updated(known, sa),
          this.terminated.has(sa.uniqueid) ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT',
        );
      }
    }
  }

  /** `child-updown`: a CHILD SA came up (its counters start) or went down (its counters are kept). */
  applyChildUpDown(sas: IkeSa[], up: boolean): void {
    for (const sa of sas) {
      const e = this.entries.get(sa.uniqueid);
      if (!e || e.spis !== spisOf(sa)) continue;
      for (const [id, bytes] of childBytes(sa)) {
        if (up) e.children.set(id, bytes);
        else {
          e.children.delete(id);
          e.retired = { in: e.retired.in + bytes.in, out: e.retired.out + bytes.out };
        }
      }
    }
  }

  /**
   * `ike-rekey`: the session moves from the old SA to the new one, keeping its ref. Its CHILD SAs move
   * along (same ids), whether or not the event lists them yet: the next list settles their bytes.
   */
  applyRekey(oldSa: IkeSa, newSa: IkeSa): void {
    const e = this.entries.get(oldSa.uniqueid);
    if (!e || e.spis !== spisOf(oldSa)) return;
    this.entries.delete(oldSa.uniqueid);
    this.entries.set(newSa.uniqueid, { ...e, sa: newSa, spis: spisOf(newSa) });
  }

  /** Every session ends with `cause` (charon restarted or went away for good). */
  endAll(cause: EndCause): void {
    for (const [id, e] of [...this.entries]) this.end(id, e, cause);
  }

  private end(uniqueId: number, e: Entry, cause: EndCause): void {
    this.entries.delete(uniqueId);
    this.terminated.delete(uniqueId);
    const r = this.report(e);
    this.emit({
      type: 'session.disconnected',
      ref: e.ref,
      cause,
      at: this.now(),
      bytesReceived: r.bytesReceived,
      bytesSent: r.bytesSent,
    });
  }

  private entryOf(sa: IkeSa): Entry {
    const connectedAt = this.now() - (sa.established ?? 0) * 1000;
    return {
      ref: ikeSessionRef(sa),
      spis: spisOf(sa),
      sa,
      connectedAt,
      children: childBytes(sa),
      retired: { in: 0, out: 0 },
    };
  }

  /** The entry with `sa`'s current details; CHILD SAs no longer listed have their bytes retired. */
  private updated(e: Entry, sa: IkeSa): Entry {
    const listed = childBytes(sa);
    const retired = { ...e.retired };
    for (const [id, bytes] of e.children) {
      if (!listed.has(id)) {
        retired.in += bytes.in;
        retired.out += bytes.out;
      }
    }
    return { ...e, sa, spis: spisOf(sa), children: listed, retired };
  }

  private sum(e: Entry): { in: number; out: number } {
    let { in: i, out: o } = e.retired;
    for (const b of e.children.values()) {
      i += b.in;
      o += b.out;
    }
    return { in: i, out: o };
  }

  private report(e: Entry): SessionReport {
    const bytes = this.sum(e);
    // Bytes the gateway received from the client are the CHILD SAs' inbound bytes.
    return { ...reportOf(e.sa, e.connectedAt, { received: bytes.in, sent: bytes.out }), ref: e.ref };
  }
}
