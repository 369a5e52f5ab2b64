import type { GatewayReport } from './reports.js';

type Disconnected = Extract<GatewayReport, { type: 'session.disconnected' }>;

/**
 * Sessions whose kill this process has sent and whose reply it awaits (a single disconnect), and the
 * daemon's report of their end (its `>CLIENT:DISCONNECT` echo) when sync received it first: sync
 * parks that report here instead of applying it, and the reply decides.
 *
 * Why: the echo usually comes before the reply. Applied by sync, it settled the intent in a
 * transaction of its own (reads by ref and of pending intents, the settlement, the end, the SUCCESS
 * row, the outbox) and the reply then took that settlement; parked, the reply settles the intent
 * itself through its single-row statements, with the echo's time and final counters, and the parked
 * report is dropped (the session has ended as the operator's already: applying it would change
 * nothing). Any other reply (NOT_FOUND, NOT_SENT, UNCONFIRMED, a timeout, a lost link) applies the
 * parked report through sync first, then answers as before: the record is what it was when sync
 * applied the report on arrival.
 *
 * Order of a gateway's reports: a report is parked in its place in the gateway's queue, and only a
 * later report of the same gateway that reads or writes that session can depend on it. So sync
 * applies the gateway's parked reports before a snapshot (which would otherwise end the session
 * itself, at its own time and without the echo's counters), and a ref's parked report before a
 * `session.connected` or `session.disconnected` report of the same ref (a daemon that hands a
 * reconnecting client the same ref; a second echo). Once applied that way, the entry is gone: the
 * reply finds nothing parked and takes sync's settlement as before. Reports that touch no session
 * (heartbeats, link-down, auth-denied, reload) do not wait for it.
 *
 * A parked report is in memory only. If the process dies with one parked, the intent is durable and
 * PENDING, so whichever replica next applies the gateway's snapshot (this one restarted, or another,
 * which received the same report and applied it at once, having no kill of it in flight) settles it
 * as the operator's, as the fault table of docs/guarantees.md says for a death between the reply
 * and its commit.
 */
export class KillsInFlight {
  /** By gateway, then ref: null while nothing is parked, else the parked report. */
  private readonly byGateway = new Map<string, Map<string, Disconnected | null>>();
  /** Sync's way of applying a released report in the gateway's order (set when sync starts). */
  private applier: ((r: Disconnected) => Promise<void>) | null = null;

  /** Sync registers how a released report is applied (its gateway queue). */
  setApplier(apply: (r: Disconnected) => Promise<void>): void {
    this.applier = apply;
  }

  /** A kill of this session is about to be sent; its reply will `release` it. */
  expect(gatewayId: string, ref: string): void {
    let refs = this.byGateway.get(gatewayId);
    if (!refs) this.byGateway.set(gatewayId, (refs = new Map()));
    refs.set(ref, null);
  }

  /** Sync: parks `r` if its session's kill is in flight and nothing is parked for it yet. */
  park(r: Disconnected): boolean {
    const refs = this.byGateway.get(r.gatewayId);
    if (!refs || refs.get(r.ref) !== null) return false;
    refs.set(r.ref, r);
    return true;
  }

  /** Whether any report of the gateway is parked (for `ref` only, when given). */
  hasParked(gatewayId: string, ref?: string): boolean {
    const refs = this.byGateway.get(gatewayId);
    if (!refs) return false;
    if (ref !== undefined) return (refs.get(ref) ?? null) !== null;
    for (const r of refs.values()) if (r) return true;
    return false;
  }

  /**
   * Sync: the gateway's parked reports (only `ref`'s, when given), taken out to be applied now; their sessions are no longer expected (later reports of them are
   * applied as they come, and the reply takes sync's settlement).
   */
  unpark(gatewayId: string, ref?: string): Disconnected[] {
    const refs = this.byGateway.get(gatewayId);
    if (!refs) return [];
    const out: Disconnected[] = [];
    for (const [k, r] of ref === undefined ? refs : [[ref, refs.get(ref) ?? null] as const]) {
      if (!r) continue;
      out.push(r);
      refs.delete(k);
    }
    if (refs.size === 0) this.byGateway.delete(gatewayId);
    return out;
  }

  /** The reply came (or the send failed): the session is no longer expected; its parked report, if any. */
  release(gatewayId: string, ref: string): Disconnected | undefined {
    const refs = this.byGateway.get(gatewayId);
    const r = refs?.get(ref);
    if (!refs || r === undefined) return undefined;
    refs.delete(ref);
    if (refs.size === 0) this.byGateway.delete(gatewayId);
    return r ?? undefined;
  }

  /** Applies a released report through sync, in its gateway's order; resolves once it is applied. */
  apply(r: Disconnected): Promise<void> {
    if (!this.applier) throw new Error('a report was parked with no sync to apply it');
    return this.applier(r);
  }
}
