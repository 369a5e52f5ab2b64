import type { EndCause, Session, Transport } from '../../domain/session.js';
import type { Logger } from '../../domain/logger.js';
import type { SessionStats, StoreTx } from '../../store/store.js';
import { appendSessionEvents } from '../event-outbox.js';
import { endRemovedGateway } from '../gateway-reload.js';
import { settleUnlisted } from '../intent-settlement.js';
import type { GatewayDescriptor, GatewayReport } from '../reports.js';
import { sessionEvent, type SessionEvent } from '../session-events.js';
import { changing, newSession, type SyncDeps } from './session-rows.js';

type Snapshot = Extract<GatewayReport, { type: 'snapshot' }>;

/** How far ahead of a snapshot a session's last report may be and still count as newer than it. */
const NEWER_REPORT_WINDOW_MS = 60_000;
/** Snapshot sessions per transaction: bounds memory and how long one transaction holds the connection. */
const SNAPSHOT_CHUNK = 1_000;
/**
 * A snapshot rewrites a known session's row only when its counters moved or its last-seen time is
 * this old: an idle session's `lastSeenAt` lags by up to this much, and a periodic snapshot of idle
 * sessions writes nothing. (Ending stale sessions compares their last-seen with the snapshot's time;
 * a lagging value only makes that bound tighter, and rows a newer report created carry its time.)
 */
const STATS_REFRESH_MS = 60_000;

interface SnapshotInProgress {
  /** The parts' id ('' for a snapshot in one piece) and the index of the part expected next. */
  id: string;
  next: number;
  /** The first part's time: what "seen after this snapshot" is measured against. */
  at: number;
  gateway: GatewayDescriptor & { id: string };
  restarted: boolean;
  /** Online sessions no part has listed yet, by ref. */
  online: Map<string, SessionStats>;
}

/**
 * Applies snapshots, whole or in parts: a snapshot is the truth (sessions it lacks are ended,
 * sessions it has are created or refreshed). It works in transactions of SNAPSHOT_CHUNK sessions,
 * each chunk's events written with it, the event loop yielded in between (so API requests get
 * SQLite's one connection); then the sessions it lacks are ended, in chunks too. What that changes
 * against one transaction:
 * - A crash or failure midway leaves the snapshot partly applied (some sessions created or
 *   refreshed, none of the stale ones ended yet); the next snapshot completes it.
 * - Replicas applying the same snapshot still create and end each session once, and only the
 *   replica whose statement changed a row announces it (multi-row `insertIfAbsent`, conditional
 *   `markEndedMany`). Every chunk first re-upserts the gateway row, which locks it until commit:
 *   replicas' chunks take turns, so their row locks cannot deadlock.
 * - A delta of this gateway cannot land between chunks: one gateway's reports are applied strictly
 *   in order (ReportQueue). Another replica's may, as they could before between two transactions;
 *   its row changes are re-checked by the conditional statements.
 * A large snapshot also arrives in parts (see SnapshotPart); the stale sessions are ended only after
 * its last part, and only if every part arrived in order. A snapshot of at most one chunk in one
 * piece (every periodic snapshot of a gateway with up to SNAPSHOT_CHUNK sessions) is applied in ONE
 * transaction instead: a fleet of a thousand such gateways sends a thousand snapshots a minute, and
 * every replica applies each.
 */
export class SnapshotApplier {
  /** Per gateway: a snapshot sent in parts, between its first and its last part. */
  private readonly snapshots = new Map<string, SnapshotInProgress>();
  /** Per gateway: `daemonStartedAt` of the last snapshot this replica began applying (see coalesceReports). */
  private readonly runs = new Map<string, number | null>();
  /** Gateways whose snapshot in parts is being ignored (a reload removed the gateway): the rest of its parts. */
  private readonly ignoring = new Set<string>();

  constructor(private readonly deps: SyncDeps & { logger: Logger }) {}

  /** The daemon run (its `daemonStartedAt`) of the gateway's last snapshot applied here; undefined: none yet. */
  appliedRun(gatewayId: string): number | null | undefined {
    return this.runs.get(gatewayId);
  }

  /**
   * Returns false when another replica had applied this snapshot already (a whole one's claim, see
   * applyWhole) and nothing was written here, and for a gateway a reload removed (see `begin`); true otherwise.
   */
  async apply(r: Snapshot): Promise<boolean> {
    const part = r.part ?? { id: '', index: 0, count: 1 };
    if (part.count === 1 && r.sessions.length <= SNAPSHOT_CHUNK) return this.applyWhole(r);
    let state: SnapshotInProgress | undefined;
    if (part.index === 0) {
      this.ignoring.delete(r.gatewayId);
      const begun = await this.deps.store.transaction((tx) => this.begin(tx, r, part.id));
      this.runs.set(r.gatewayId, r.daemonStartedAt);
      if (begun === null) {
        // Its gateway was removed: the later parts are ignored as well, without a warning each.
        this.snapshots.delete(r.gatewayId);
        if (part.count > 1) this.ignoring.add(r.gatewayId);
        return false;
      }
      state = begun;
    } else {
      state = this.snapshots.get(r.gatewayId);
      if (state === undefined && this.ignoring.has(r.gatewayId)) {
        if (part.index === part.count - 1) this.ignoring.delete(r.gatewayId);
        return false;
      }
      if (state?.id !== part.id || state.next !== part.index) {
        // A part went missing (the bus delivers at most once): the snapshot cannot say which
        // sessions are gone. Its parts so far created and refreshed sessions; the next one heals.
        // A stray part of another snapshot is dropped without abandoning the one in progress.
        if (state?.id === part.id) this.snapshots.delete(r.gatewayId);
        this.deps.logger.warn(
          { gatewayId: r.gatewayId, part: part.index, of: part.count },
          'snapshot part out of order or missing; sessions it lacks are left for the next snapshot',
        );
        return true;
      }
    }
    this.snapshots.delete(r.gatewayId);
    await this.applySessions(r, state);
    state.next = part.index + 1;
    if (state.next < part.count) {
      this.snapshots.set(r.gatewayId, state);
      return true;
    }
    await this.endUnlisted(state, this.unlisted(state));
    return true;
  }

  /**
   * A snapshot in one piece of at most one chunk (a fleet's periodic snapshot of a small gateway):
   * status, sessions and the first chunk of the ended ones in ONE transaction instead of three. Its
   * first write (the snapshot's claim, or for a gateway without a row yet the upsert creating it)
   * locks the gateway's row until the commit, as each chunk's upsert does, so replicas applying it
   * take turns. Ended sessions beyond the first chunk (a restart of a
   * gateway that had many more) follow in their own transactions.
   *
   * Every replica receives every snapshot: the one that gets the gateway's row lock second finds the
   * snapshot recorded as applied (`claimSnapshot`, committed by the first) and stops there, having
   * read the gateway and tried the claim, nothing written (it tells so: `apply` returns false). Applying
   * it again would change nothing (each statement is conditional) but cost the same reads and
   * statements, a thousand rows' worth for a periodic snapshot, on every replica.
   */
  private async applyWhole(r: Snapshot): Promise<boolean> {
    this.snapshots.delete(r.gatewayId);
    const applied = await this.deps.store.transaction(async (tx) => {
      const state = await this.begin(tx, r, '', snapshotMark(r));
      if (state === null) return null;
      const { stats, ...rest } = this.sorted(r, state, r.sessions);
      // The online rows read and sorted, the statements built next: each in a turn of its own, so a
      // request that arrives meanwhile waits for half of that work, not all of it (a thousand rows each).
      await yieldTurn();
      const events = await this.writeSessions(tx, state.gateway, { stats: [], ...rest }, false);
      const stale = this.unlisted(state);
      events.push(...(await this.endSessions(tx, state, stale.slice(0, SNAPSHOT_CHUNK), false)));
      await appendSessionEvents(tx, events, this.deps.now());
      // Last before the commit: the refresh locks up to a thousand session rows, which an operator's
      // disconnect of one of them waits for; locked last, they are held for this statement and the
      // commit only, not for the statements above as well.
      await tx.sessions.updateStatsMany(state.gateway.id, stats);
      return { state, rest: stale.slice(SNAPSHOT_CHUNK) };
    });
    this.runs.set(r.gatewayId, r.daemonStartedAt);
    if (applied) await this.endUnlisted(applied.state, applied.rest);
    return applied !== null;
  }

  /**
   * The first (or only) part: the gateway's status, restart detection, and its online sessions.
   * `claim`: the snapshot's mark (agent run, sequence number, time); null is returned, and nothing
   * more written, when another replica applied that snapshot already. Null too for a gateway a
   * reload of a control plane's gateway file removed (see core/gateway-reload.ts): the snapshot is
   * ignored, and a session still online there (created by a report applied while the removal was
   * being recorded, or by a snapshot that read the row just before) ends as GATEWAY_REMOVED.
   */
  private async begin(tx: StoreTx, r: Snapshot, id: string, claim?: string): Promise<SnapshotInProgress | null> {
    const gateway = { id: r.gatewayId, ...r.gateway };
    const before = await tx.gateways.findById(r.gatewayId);
    if (before?.removedAt != null) {
      // Read before any lock: a snapshot that read the row just before a removal committed is applied
      // as before it; this next one ends what it left online.
      this.deps.removedGateway?.(r.gatewayId);
      if (before.agentConnected || (await tx.sessions.countOnline({ gatewayId: r.gatewayId })) > 0)
        await endRemovedGateway(tx, r.gatewayId, this.deps.now());
      return null;
    }
    // A known gateway's claim first: it locks the row as the upsert would (until the commit), and the
    // replica that finds the snapshot claimed stops after it, its upsert not written. A gateway
    // without a row yet is created first, so that there is a row to claim.
    const claimFirst = claim !== undefined && before !== null;
    if (claimFirst && !(await tx.gateways.claimSnapshot(r.gatewayId, claim))) return null;
    await tx.gateways.upsert(gateway);
    if (claim !== undefined && !claimFirst && !(await tx.gateways.claimSnapshot(r.gatewayId, claim))) return null;
    await tx.gateways.setAgentStatus(r.gatewayId, {
      agentConnected: true,
      lastSeenAt: this.deps.now(),
      daemonStartedAt: r.daemonStartedAt,
    });
    return {
      id,
      next: 0,
      at: r.at,
      gateway,
      restarted:
        before?.daemonStartedAt != null && r.daemonStartedAt !== null && before.daemonStartedAt !== r.daemonStartedAt,
      online: new Map((await tx.sessions.listOnlineStatsByGateway(r.gatewayId)).map((s) => [s.ref, s])),
    };
  }

  /** Creates the part's new sessions and refreshes its known ones, a chunk per transaction. */
  private async applySessions(r: Snapshot, state: SnapshotInProgress): Promise<void> {
    for (let i = 0; i < r.sessions.length; i += SNAPSHOT_CHUNK) {
      const chunk = this.sorted(r, state, r.sessions.slice(i, i + SNAPSHOT_CHUNK));
      if (i > 0 || state.next > 0) await yieldTurn();
      await changing(this.deps, (tx) => this.writeSessions(tx, state.gateway, chunk, true));
    }
  }

  /** A chunk's sessions sorted against what the store holds (taken out of `state.online` as listed). */
  private sorted(r: Snapshot, state: SnapshotInProgress, reports: Snapshot['sessions']): SortedChunk {
    const { online } = state;
    const stats: SessionStats[] = [];
    const floated: Pick<Session, 'id' | 'clientAddress'>[] = [];
    const learnt: { id: string; transport: Transport }[] = [];
    const fresh = new Map<string, Session>();
    for (const report of reports) {
      const known = online.get(report.ref);
      if (known) {
        online.delete(report.ref);
        const moved = known.bytesReceived !== report.bytesReceived || known.bytesSent !== report.bytesSent;
        if (moved || r.at - known.lastSeenAt >= STATS_REFRESH_MS) {
          stats.push({
            ...known,
            bytesReceived: report.bytesReceived,
            bytesSent: report.bytesSent,
            lastSeenAt: r.at,
          });
        }
        // A UDP client that floated: the same session (same ref) from a new address.
        if (report.clientAddress !== null && report.clientAddress !== known.clientAddress)
          floated.push({ id: known.id, clientAddress: report.clientAddress });
        // Stored before its gateway said UDP or TCP (an OpenVPN session that was up when the agent
        // attached): the transport the agent learnt since.
        if (report.transport != null && known.transport === null)
          learnt.push({ id: known.id, transport: report.transport });
      } else if (!fresh.has(report.ref)) {
        // New to this replica's view: created unless a row with this ref exists (ended, or another
        // replica's), which the conflicting insert leaves as it is.
        fresh.set(report.ref, newSession(r.gatewayId, report, r.at, r.gateway.protocol));
      }
    }
    return { stats, floated, learnt, fresh: [...fresh.values()] };
  }

  /** `lock`: first re-upsert the gateway (its row lock orders replicas' chunks; see the class comment). */
  private async writeSessions(
    tx: StoreTx,
    gateway: SnapshotInProgress['gateway'],
    { stats, floated, learnt, fresh }: SortedChunk,
    lock: boolean,
  ): Promise<SessionEvent[]> {
    if (lock) await tx.gateways.upsert(gateway);
    await tx.sessions.updateStatsMany(gateway.id, stats);
    if (floated.length > 0) await tx.sessions.updateAddresses(floated);
    if (learnt.length > 0) await tx.sessions.fillTransports(learnt);
    const inserted = await tx.sessions.insertManyIfAbsent(fresh);
    return fresh.filter((s) => inserted.has(s.id)).map((s) => sessionEvent('session.connected', s));
  }

  /**
   * The online sessions no part listed (what is left in `state.online`), but those seen in a report
   * newer than this snapshot (a replica that was ahead applied it first): the snapshot cannot speak
   * for them. Agents stamp their reports with strictly increasing `at`. Bounded, so an agent whose
   * clock stepped back cannot keep a gone session alive for long.
   */
  private unlisted(state: SnapshotInProgress): string[] {
    const { online, at } = state;
    const stale = [...online.values()]
      .filter((s) => !(s.lastSeenAt >= at && s.lastSeenAt - at < NEWER_REPORT_WINDOW_MS))
      .map((s) => s.id);
    online.clear();
    return stale;
  }

  /** After the last part: the sessions no part listed have ended, a chunk per transaction. */
  private async endUnlisted(state: SnapshotInProgress, stale: string[]): Promise<void> {
    for (let i = 0; i < stale.length; i += SNAPSHOT_CHUNK) {
      await yieldTurn();
      await changing(this.deps, (tx) => this.endSessions(tx, state, stale.slice(i, i + SNAPSHOT_CHUNK), true));
    }
  }

  private async endSessions(
    tx: StoreTx,
    state: SnapshotInProgress,
    ids: string[],
    lock: boolean,
  ): Promise<SessionEvent[]> {
    if (ids.length === 0) return [];
    const { at, restarted } = state;
    if (lock) await tx.gateways.upsert(state.gateway);
    // Sessions with a pending disconnect intent end as that operator's (or, after a restart, as one).
    const settled = await settleUnlisted(tx, ids, { at, now: this.deps.now(), restarted });
    const cause: EndCause = restarted ? 'GATEWAY_RESTART' : 'CLIENT_DISCONNECT';
    const ended = await tx.sessions.markEndedMany(
      ids.filter((id) => !settled.sessionIds.has(id)),
      { endedAt: at, cause },
    );
    return [...settled.events, ...ended.map((s) => sessionEvent('session.disconnected', s))];
  }
}

/** A chunk of a snapshot against the store: rows to refresh, addresses that moved, sessions to create. */
interface SortedChunk {
  stats: SessionStats[];
  floated: Pick<Session, 'id' | 'clientAddress'>[];
  learnt: { id: string; transport: Transport }[];
  fresh: Session[];
}

/** A snapshot's mark, what a replica claims it by: its agent run, sequence number and time. */
export function snapshotMark(r: { agentId: string; seq: number; at: number }): string {
  return `${r.agentId}:${r.seq}:${r.at}`;
}

/** Lets queued I/O and timers (API requests) run before the next chunk takes the connection. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
