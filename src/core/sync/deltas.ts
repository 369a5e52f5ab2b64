import type { Gateway } from '../../domain/gateway.js';
import type { Session, SessionReport } from '../../domain/session.js';
import type { DisconnectIntent } from '../../domain/disconnect-intent.js';
import type { SessionEnd, StoreTx } from '../../store/store.js';
import { settleEnded, settleEndedMany, type ConfirmedEnd, type EndedSettlement } from '../intent-settlement.js';
import type { SettledIntents } from '../settled-intents.js';
import type { GatewayReport } from '../reports.js';
import { sessionEvent, type SessionEvent } from '../session-events.js';
import { changing, newSession, type SyncDeps } from './session-rows.js';

type Connected = Extract<GatewayReport, { type: 'session.connected' }>;
type Disconnected = Extract<GatewayReport, { type: 'session.disconnected' }>;

/**
 * Applies a gateway's deltas (`session.connected`, `session.disconnected`) to the store, each change
 * with its event in the same transaction. A known ref is refreshed, never revived once ended; a
 * session with an operator's disconnect pending ends as that operator's. `unknownGateway` hears of a
 * delta whose gateway has no row yet (its snapshot, asked for there, brings it).
 */
export class DeltaApplier {
  constructor(
    private readonly deps: SyncDeps & {
      unknownGateway: (gatewayId: string) => void;
      /** Told of every intent a report settled, once its transaction committed. */
      settled?: SettledIntents;
    },
  ) {}

  connected(r: Connected): Promise<SessionEvent[]> {
    return changing(this.deps, (tx) => this.upsertSession(tx, r.gatewayId, r.session, r.at));
  }

  disconnected(r: Disconnected): Promise<SessionEvent[]> {
    return this.settling((tx, settled) => this.endReported(tx, r, settled));
  }

  /** One multi-row insert for the run (all reports of one gateway); the rare known ref one at a time. */
  connectedRun(run: Connected[]): Promise<SessionEvent[]> {
    return changing(this.deps, async (tx) => {
      const gatewayId = run[0]!.gatewayId;
      const gateway = await this.gatewayOf(tx, gatewayId);
      if (!gateway) return [];
      const protocol = gateway.protocol;
      // The first report of a ref creates its session; a later one in the run refreshes it.
      const first = new Map<string, Session>();
      const last = new Map<string, Connected>();
      for (const r of run) {
        if (!first.has(r.session.ref)) first.set(r.session.ref, newSession(gatewayId, r.session, r.at, protocol));
        else last.set(r.session.ref, r);
      }
      const inserted = await tx.sessions.insertManyIfAbsent([...first.values()]);
      const all: SessionEvent[] = [];
      for (const s of first.values()) {
        const later = last.get(s.ref);
        if (inserted.has(s.id)) {
          all.push(sessionEvent('session.connected', s));
          if (later)
            await tx.sessions.updateStats(s.id, {
              bytesReceived: later.session.bytesReceived,
              bytesSent: later.session.bytesSent,
              lastSeenAt: later.at,
            });
        } else {
          // Known already (another replica inserted it, or it ended): refresh it unless ended.
          await this.upsertSession(tx, gatewayId, later?.session ?? s, later?.at ?? s.lastSeenAt);
        }
      }
      return all;
    });
  }

  /**
   * A run of client disconnects (a wave of admin kills echoed by the daemon, a gateway shedding
   * clients) in one transaction, like a run of connects.
   */
  disconnectedRun(run: Disconnected[]): Promise<SessionEvent[]> {
    const gatewayId = run[0]!.gatewayId;
    return this.settling(async (tx, settled) => {
      // The reports' sessions and their pending intents in two queries instead of two per report.
      const refs = run.map((r) => r.ref);
      const sessions = new Map((await tx.sessions.findByRefs(gatewayId, refs)).map((s) => [s.ref, s]));
      const online = [...sessions.values()].filter((s) => s.endedAt === null).map((s) => s.id);
      const intents = new Map(
        (online.length > 0 ? await tx.intents.listPendingBySessions(online) : []).map((i) => [i.sessionId, i]),
      );
      // Operators' kills echoed by the daemon: their intents settle together, each end at its
      // report's time with its final counters, as `endReported` would settle each.
      const confirmed: ConfirmedEnd[] = [];
      const seen = new Set<string>();
      for (const r of run) {
        const first = !seen.has(r.ref);
        seen.add(r.ref);
        if (!first) continue;
        const s = sessions.get(r.ref);
        const intent = s && s.endedAt === null ? intents.get(s.id) : undefined;
        if (intent) confirmed.push({ intent, at: r.at, finalStats: finalStatsOf(r) });
      }
      const done = await settleEndedMany(tx, confirmed, { now: this.deps.now(), confirmedBy: 'DAEMON_REPORT' });
      const all: SessionEvent[] = [];
      for (const [intentId, d] of done) {
        settled.push([intentId, d]);
        if (d.event) all.push(d.event);
      }
      // Those are done (an intent read here but settled first by the reply or another replica needs
      // nothing more); every other report ends its session as reported, in order.
      const handled = new Set(confirmed.map((c) => c.intent.sessionId));
      seen.clear();
      for (const r of run) {
        // A ref reported twice in one run: its second report reads what the first one wrote.
        const first = !seen.has(r.ref);
        seen.add(r.ref);
        const session = sessions.get(r.ref) ?? null;
        if (first && session && handled.has(session.id)) continue;
        all.push(...(await this.endReported(tx, r, settled, first ? { session, intents } : undefined)));
      }
      return all;
    });
  }

  /** `changing`, then the intents it settled noted as settled (after the commit: only committed facts). */
  private async settling(
    fn: (tx: StoreTx, settled: [string, EndedSettlement][]) => Promise<SessionEvent[]>,
  ): Promise<SessionEvent[]> {
    let settled: [string, EndedSettlement][] = [];
    const events = await changing(this.deps, (tx) => {
      settled = []; // a transaction run again starts over
      return fn(tx, settled);
    });
    for (const [intentId, s] of settled) this.deps.settled?.note(intentId, s);
    return events;
  }

  /** `known`: the session and the pending intents read for the whole run already (same transaction). */
  private async endReported(
    tx: StoreTx,
    r: Disconnected,
    settled: [string, EndedSettlement][],
    known?: { session: Session | null; intents: Map<string, DisconnectIntent> },
  ): Promise<SessionEvent[]> {
    const s = known ? known.session : await tx.sessions.findByRef(r.gatewayId, r.ref);
    if (!s || s.endedAt !== null) return [];
    const finalStats = finalStatsOf(r);
    const intent = known ? (known.intents.get(s.id) ?? null) : await tx.intents.findPending(s.id);
    if (intent) {
      // An operator's disconnect is pending: this end is theirs, whatever cause the adapter gave (a
      // kill that ran after its deadline looks like the client's own leaving). Null: the reply's
      // settlement (or another replica's) got there first and ended it.
      const done = await settleEnded(tx, intent, {
        at: r.at,
        now: this.deps.now(),
        confirmedBy: 'DAEMON_REPORT',
        finalStats,
      });
      if (done) settled.push([intent.id, done]);
      return done?.event ? [done.event] : [];
    }
    // No intent pending (a kill from outside Switchboard, or one whose intent settled already and
    // ended the session, which returned above): the report is the only word of this end.
    const ended = await tx.sessions.markEnded(s.id, { endedAt: r.at, cause: r.cause, finalStats });
    return ended ? [sessionEvent('session.disconnected', ended)] : [];
  }

  /**
   * The gateway a new session is created on; null for one with no row yet (`unknownGateway` hears of
   * it) and for one a control plane's reload removed (its agent's reports are ignored).
   */
  private async gatewayOf(tx: StoreTx, gatewayId: string): Promise<Gateway | null> {
    const gateway = await tx.gateways.findById(gatewayId);
    if (!gateway) this.deps.unknownGateway(gatewayId);
    else if (gateway.removedAt !== null) this.deps.removedGateway?.(gatewayId);
    else return gateway;
    return null;
  }

  /** Creates the session for a ref seen for the first time; refreshes a known one; never revives an ended one. */
  private async upsertSession(
    tx: StoreTx,
    gatewayId: string,
    report: SessionReport,
    at: number,
  ): Promise<SessionEvent[]> {
    const existing = await tx.sessions.findByRef(gatewayId, report.ref);
    if (existing) {
      if (existing.endedAt === null) {
        await tx.sessions.updateStats(existing.id, {
          bytesReceived: report.bytesReceived,
          bytesSent: report.bytesSent,
          lastSeenAt: at,
        });
      }
      return [];
    }
    const gateway = await this.gatewayOf(tx, gatewayId);
    if (!gateway) return [];
    const session = newSession(gatewayId, report, at, gateway.protocol);
    // Another replica applying the same report may have inserted it since the lookup: only the
    // replica whose insert wrote the row announces it.
    if (!(await tx.sessions.insertIfAbsent(session))) return [];
    return [sessionEvent('session.connected', session)];
  }
}

/** The daemon's last counters of an ended session, when its report carries them. */
export function finalStatsOf(r: Disconnected): SessionEnd['finalStats'] {
  return r.bytesReceived !== undefined && r.bytesSent !== undefined
    ? { bytesReceived: r.bytesReceived, bytesSent: r.bytesSent, lastSeenAt: r.at }
    : undefined;
}
