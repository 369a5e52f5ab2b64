import { createHash } from 'node:crypto';
import { ID_KINDS, idOf, newId, newSessionId, userIdFor } from '../domain/ids.js';
import type { EndCause, Session, SessionReport } from '../domain/session.js';
import type { Protocol } from '../domain/gateway.js';
import { reportSubjectGatewayId, subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { SessionEnd, SessionStats, Store, StoreTx } from '../store/store.js';
import { SYSTEM_ACTOR } from '../domain/actor.js';
import { auditEvent } from './audit.js';
import type { Logger } from '../domain/logger.js';
import { appendSessionEvents } from './event-outbox.js';
import { settleEnded, settleUnlisted } from './intent-settlement.js';
import { versioned, type GatewayDescriptor, type GatewayReport } from './reports.js';
import { ReportIntake } from './report-intake.js';
import { sessionEvent, type SessionEvent } from './session-events.js';

/** How far ahead of a snapshot a session's last report may be and still count as newer than it. */
const NEWER_REPORT_WINDOW_MS = 60_000;
/** Bounds one batched transaction (a run of connects or of disconnects), so it holds the (SQLite: only) connection for a short while. */
const MAX_CONNECTED_PER_TRANSACTION = 500;
/** Snapshot sessions per transaction: bounds memory and how long one transaction holds the connection. */
const SNAPSHOT_CHUNK = 1_000;
/**
 * A snapshot rewrites a known session's row only when its counters moved or its last-seen time is
 * this old: an idle session's `lastSeenAt` lags by up to this much, and a periodic snapshot of idle
 * sessions writes nothing. (Ending stale sessions compares their last-seen with the snapshot's time;
 * a lagging value only makes that bound tighter, and rows a newer report created carry its time.)
 */
const STATS_REFRESH_MS = 60_000;
/** Least time between two hellos sent because of deltas of an unknown gateway. */
const HELLO_AGAIN_MS = 2_000;

/**
 * Reconciles the store with what agents report. Reports of one gateway are applied strictly in order;
 * a snapshot is the truth (sessions it lacks are ended, sessions it has are created or refreshed);
 * deltas keep the store current in between. A lost delta: the store heals at the next snapshot, and
 * an ended session never comes back to life, so no phantom survives; the lost live event does not
 * heal: subscribers and webhooks hear of the change only from that snapshot, late, and an end with
 * the snapshot's time and cause (CLIENT_DISCONNECT or GATEWAY_RESTART) instead of the daemon's.
 *
 * Several replicas: every replica receives every report (no queue group, which would hand report N
 * to one replica and N+1 to another and break per-gateway order) and applies it idempotently. The
 * database decides which replica changed a row (`insertIfAbsent`, the conditional `markEnded`), and
 * only that one writes the session event, into the outbox in the same transaction: each change is
 * applied and announced once, and a replica that dies after its commit loses nothing (any replica's
 * relay publishes the event).
 */
export class SessionSync {
  private readonly queues = new Map<string, Promise<void>>();
  /** Per gateway: the reports that arrived since its current work started, applied next as one batch. */
  private readonly waiting = new Map<string, { reports: GatewayReport[]; done: Promise<void> }>();
  private unsubscribe: Unsubscribe | null = null;
  /** Per gateway: a snapshot sent in parts, between its first and its last part. */
  private readonly snapshots = new Map<string, SnapshotInProgress>();
  private readonly now: () => number;

  private readonly replicaId = newId('replica');
  private lastHelloAt = -Infinity;
  private helloTimer: NodeJS.Timeout | null = null;
  /** Gateways whose deltas came before their first snapshot or heartbeat (logged once each). */
  private readonly unknownGateways = new Set<string>();
  /** Checks every report against the wire contract and its subject before it is applied. */
  readonly intake: ReportIntake;

  constructor(private readonly deps: { store: Store; bus: Bus; logger: Logger; now?: () => number; intake?: ReportIntake }) {
    this.now = deps.now ?? Date.now;
    this.intake = deps.intake ?? new ReportIntake({ logger: deps.logger, now: this.now });
  }

  /** Consumes every gateway's reports; each replica sees all of them (see the class comment). */
  start(): void {
    this.unsubscribe = this.deps.bus.subscribe(subjects.allGatewayReports, (data, subject) => {
      const report = this.intake.read(data, reportSubjectGatewayId(subject), subject);
      return report ? this.enqueue(report) : undefined;
    });
    // Agents that started before this replica: their sessions now, not at their next periodic snapshot.
    this.sayHello();
  }

  /** Asks every agent for a heartbeat and a snapshot (subscribed already, so their answers reach this replica). */
  private sayHello(): void {
    this.lastHelloAt = this.now();
    this.deps.bus.publish(subjects.replicaHello, versioned({ replicaId: this.replicaId })).catch((e: unknown) => {
      this.deps.logger.warn({ err: e }, 'could not ask agents for snapshots; their periodic ones follow');
    });
  }

  /**
   * A delta of a gateway with no row yet (its agent started before any replica, and its snapshot
   * went unheard): nothing to attach the session to. Not an error: the snapshot asked for here brings
   * the gateway and its sessions.
   */
  private unknownGateway(gatewayId: string): void {
    if (!this.unknownGateways.has(gatewayId) && this.unknownGateways.size < 10_000) {
      this.unknownGateways.add(gatewayId);
      this.deps.logger.info({ gatewayId }, 'report of a gateway this replica does not know yet; asking its agent for a snapshot');
    }
    if (this.helloTimer) return;
    // Not more often than HELLO_AGAIN_MS: a burst of such deltas asks once.
    const wait = Math.min(HELLO_AGAIN_MS, Math.max(0, this.lastHelloAt + HELLO_AGAIN_MS - this.now()));
    this.helloTimer = setTimeout(() => {
      this.helloTimer = null;
      if (this.unsubscribe) this.sayHello();
    }, wait);
    this.helloTimer.unref();
  }

  stop(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Resolves when every report received so far has been applied (tests and shutdown use it). */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  /**
   * Reports that arrive while the gateway's previous work runs wait together in one batch, applied in
   * order when their turn comes. A run of `connected` reports in a batch (a reconnect storm: thousands
   * of ESTABLISHED at once) shares one transaction instead of one each, which profiling showed to be
   * most of the cost; if that transaction fails, the run is retried report by report.
   */
  enqueue(report: GatewayReport): Promise<void> {
    const waiting = this.waiting.get(report.gatewayId);
    if (waiting) {
      waiting.reports.push(report);
      return waiting.done;
    }
    const batch: { reports: GatewayReport[]; done: Promise<void> } = { reports: [report], done: Promise.resolve() };
    this.waiting.set(report.gatewayId, batch);
    const prev = this.queues.get(report.gatewayId) ?? Promise.resolve();
    const next = prev.then(() => {
      // From here on, new reports of this gateway start the next batch.
      if (this.waiting.get(report.gatewayId) === batch) this.waiting.delete(report.gatewayId);
      return this.applyBatch(batch.reports);
    });
    batch.done = next;
    this.queues.set(report.gatewayId, next);
    void next.then(() => {
      if (this.queues.get(report.gatewayId) === next) this.queues.delete(report.gatewayId);
    });
    return next;
  }

  private async applyBatch(reports: GatewayReport[]): Promise<void> {
    for (let i = 0; i < reports.length;) {
      let j = i;
      const type = reports[i]!.type;
      const batchable = type === 'session.connected' || type === 'session.disconnected';
      while (batchable && j < reports.length && j - i < MAX_CONNECTED_PER_TRANSACTION && reports[j]!.type === type) j++;
      if (j - i > 1) {
        const run = reports.slice(i, j);
        if (type === 'session.connected') await this.applyConnectedRun(run as Extract<GatewayReport, { type: 'session.connected' }>[]);
        else await this.applyDisconnectedRun(run as Extract<GatewayReport, { type: 'session.disconnected' }>[]);
        i = j;
      } else {
        await this.applyOne(reports[i]!);
        i++;
      }
    }
  }

  private async applyOne(report: GatewayReport): Promise<void> {
    try {
      await this.apply(report);
    } catch (e) {
      this.deps.logger.error({ err: e, gatewayId: report.gatewayId, type: report.type }, 'applying gateway report failed');
    }
  }

  /** One multi-row insert for the run (all reports of one gateway); the rare known ref one at a time. */
  private applyConnectedRun(run: Extract<GatewayReport, { type: 'session.connected' }>[]): Promise<void> {
    return this.applyRun(run, async (tx) => {
      const gatewayId = run[0]!.gatewayId;
      const gateway = await tx.gateways.findById(gatewayId);
      if (!gateway) {
        this.unknownGateway(gatewayId);
        return [];
      }
      const protocol = gateway.protocol;
      // The first report of a ref creates its session; a later one in the run refreshes it.
      const first = new Map<string, Session>();
      const last = new Map<string, Extract<GatewayReport, { type: 'session.connected' }>>();
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
          if (later) await tx.sessions.updateStats(s.id, { bytesReceived: later.session.bytesReceived, bytesSent: later.session.bytesSent, lastSeenAt: later.at });
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
  private applyDisconnectedRun(run: Extract<GatewayReport, { type: 'session.disconnected' }>[]): Promise<void> {
    return this.applyRun(run, async (tx) => {
      const all: SessionEvent[] = [];
      for (const r of run) all.push(...(await this.endReported(tx, r)));
      return all;
    });
  }

  /** A run of reports in one transaction, with its events; if it fails, report by report. */
  private async applyRun(run: GatewayReport[], apply: (tx: StoreTx) => Promise<SessionEvent[]>): Promise<void> {
    try {
      await this.changing(apply);
    } catch {
      for (const r of run) await this.applyOne(r);
    }
  }

  private async endReported(tx: StoreTx, r: Extract<GatewayReport, { type: 'session.disconnected' }>): Promise<SessionEvent[]> {
    const s = await tx.sessions.findByRef(r.gatewayId, r.ref);
    if (!s || s.endedAt !== null) return [];
    const finalStats = r.bytesReceived !== undefined && r.bytesSent !== undefined
      ? { bytesReceived: r.bytesReceived, bytesSent: r.bytesSent, lastSeenAt: r.at }
      : undefined;
    const intent = await tx.intents.findPending(s.id);
    if (intent) {
      // An operator's disconnect is pending: this end is theirs, whatever cause the adapter gave (a
      // kill that ran after its deadline looks like the client's own leaving). Null: the reply's
      // settlement (or another replica's) got there first and ended it.
      const done = await settleEnded(tx, intent, { at: r.at, now: this.now(), confirmedBy: 'DAEMON_REPORT', finalStats });
      return done?.event ? [done.event] : [];
    }
    // No intent pending (a kill from outside Switchboard, or one whose intent settled already and
    // ended the session, which returned above): the report is the only word of this end.
    const ended = await this.end(tx, s.id, r.cause, r.at, finalStats);
    return ended ? [ended] : [];
  }

  private async apply(r: GatewayReport): Promise<void> {
    const { store } = this.deps;
    switch (r.type) {
      // A gateway's last-seen time is when a replica heard its agent, by the control plane's clock:
      // liveness is judged against that clock, so an agent host's clock skew cannot fake or hide it.
      case 'heartbeat':
        await store.gateways.upsert({ id: r.gatewayId, ...r.gateway });
        await store.gateways.setAgentStatus(r.gatewayId, { agentConnected: r.linkUp, lastSeenAt: this.now(), daemonResponding: r.daemonResponding ?? true });
        return;
      case 'link-down':
        await store.gateways.setAgentStatus(r.gatewayId, { agentConnected: false, lastSeenAt: this.now() });
        return;
      case 'session.connected':
        await this.changing((tx) => this.upsertSession(tx, r.gatewayId, r.session, r.at));
        return;
      case 'session.disconnected':
        await this.changing((tx) => this.endReported(tx, r));
        return;
      case 'snapshot':
        return this.applySnapshot(r);
      case 'auth-denied':
        // Every replica applies this report; the id derived from it lets exactly one row exist.
        await store.audit.appendIfAbsent({
          ...auditEvent(SYSTEM_ACTOR, 'session.reconnect_blocked', 'SUCCESS', {
            at: r.at, targetUserName: r.userName, targetGatewayId: r.gatewayId, reason: r.reason, metadata: { clientAddress: r.clientAddress },
          }),
          id: reportAuditId(r),
        });
        return;
    }
  }

  /**
   * A snapshot in transactions of SNAPSHOT_CHUNK sessions, each chunk's events written with it, the
   * event loop yielded in between (so API requests get SQLite's one connection); then
   * the sessions it lacks are ended, in chunks too. What that changes against one transaction:
   * - A crash or failure midway leaves the snapshot partly applied (some sessions created or
   *   refreshed, none of the stale ones ended yet); the next snapshot completes it.
   * - Replicas applying the same snapshot still create and end each session once, and only the
   *   replica whose statement changed a row announces it (multi-row `insertIfAbsent`, conditional
   *   `markEndedMany`). Every chunk first re-upserts the gateway row, which locks it until commit:
   *   replicas' chunks take turns, so their row locks cannot deadlock.
   * - A delta of this gateway cannot land between chunks: this class applies one gateway's reports
   *   strictly in order (`enqueue`). Another replica's may, as they could before between two
   *   transactions; its row changes are re-checked by the conditional statements.
   * A large snapshot also arrives in parts (see SnapshotPart); the stale sessions are ended only after
   * its last part, and only if every part arrived in order.
   */
  private async applySnapshot(r: Extract<GatewayReport, { type: 'snapshot' }>): Promise<void> {
    const part = r.part ?? { id: '', index: 0, count: 1 };
    let state: SnapshotInProgress | undefined;
    if (part.index === 0) {
      state = await this.beginSnapshot(r, part.id);
    } else {
      state = this.snapshots.get(r.gatewayId);
      if (state?.id !== part.id || state.next !== part.index) {
        // A part went missing (the bus delivers at most once): the snapshot cannot say which
        // sessions are gone. Its parts so far created and refreshed sessions; the next one heals.
        // A stray part of another snapshot is dropped without abandoning the one in progress.
        if (state?.id === part.id) this.snapshots.delete(r.gatewayId);
        this.deps.logger.warn({ gatewayId: r.gatewayId, part: part.index, of: part.count }, 'snapshot part out of order or missing; sessions it lacks are left for the next snapshot');
        return;
      }
    }
    this.snapshots.delete(r.gatewayId);
    await this.applySnapshotSessions(r, state);
    state.next = part.index + 1;
    if (state.next < part.count) {
      this.snapshots.set(r.gatewayId, state);
      return;
    }
    await this.endUnlisted(state);
  }

  /** The first (or only) part: the gateway's status, restart detection, and its online sessions. */
  private async beginSnapshot(r: Extract<GatewayReport, { type: 'snapshot' }>, id: string): Promise<SnapshotInProgress> {
    const gateway = { id: r.gatewayId, ...r.gateway };
    return this.deps.store.transaction(async (tx) => {
      const before = await tx.gateways.findById(r.gatewayId);
      await tx.gateways.upsert(gateway);
      await tx.gateways.setAgentStatus(r.gatewayId, { agentConnected: true, lastSeenAt: this.now(), daemonStartedAt: r.daemonStartedAt });
      return {
        id,
        next: 0,
        at: r.at,
        gateway,
        restarted: before?.daemonStartedAt != null && r.daemonStartedAt !== null && before.daemonStartedAt !== r.daemonStartedAt,
        online: new Map((await tx.sessions.listOnlineStatsByGateway(r.gatewayId)).map((s) => [s.ref, s])),
      };
    });
  }

  /** Creates the part's new sessions and refreshes its known ones, a chunk per transaction. */
  private async applySnapshotSessions(r: Extract<GatewayReport, { type: 'snapshot' }>, state: SnapshotInProgress): Promise<void> {
    const { online, gateway } = state;
    for (let i = 0; i < r.sessions.length; i += SNAPSHOT_CHUNK) {
      const stats: SessionStats[] = [];
      const floated: Pick<Session, 'id' | 'clientAddress'>[] = [];
      const fresh = new Map<string, Session>();
      for (const report of r.sessions.slice(i, i + SNAPSHOT_CHUNK)) {
        const known = online.get(report.ref);
        if (known) {
          online.delete(report.ref);
          const moved = known.bytesReceived !== report.bytesReceived || known.bytesSent !== report.bytesSent;
          if (moved || r.at - known.lastSeenAt >= STATS_REFRESH_MS) {
            stats.push({ ...known, bytesReceived: report.bytesReceived, bytesSent: report.bytesSent, lastSeenAt: r.at });
          }
          // A UDP client that floated: the same session (same ref) from a new address.
          if (report.clientAddress !== null && report.clientAddress !== known.clientAddress) floated.push({ id: known.id, clientAddress: report.clientAddress });
        } else if (!fresh.has(report.ref)) {
          // New to this replica's view: created unless a row with this ref exists (ended, or another
          // replica's), which the conflicting insert leaves as it is.
          fresh.set(report.ref, newSession(r.gatewayId, report, r.at, r.gateway.protocol));
        }
      }
      if (i > 0 || state.next > 0) await yieldTurn();
      await this.changing(async (tx) => {
        await tx.gateways.upsert(gateway);
        await tx.sessions.updateStatsMany(stats);
        if (floated.length > 0) await tx.sessions.updateAddresses(floated);
        const inserted = await tx.sessions.insertManyIfAbsent([...fresh.values()]);
        return [...fresh.values()].filter((s) => inserted.has(s.id)).map((s) => sessionEvent('session.connected', s));
      });
    }
  }

  /** After the last part: the sessions no part listed have ended. */
  private async endUnlisted(state: SnapshotInProgress): Promise<void> {
    const { online, gateway, at } = state;
    const cause: EndCause = state.restarted ? 'GATEWAY_RESTART' : 'CLIENT_DISCONNECT';
    // Seen in a report newer than this snapshot (a replica that was ahead applied it first): the
    // snapshot cannot speak for it. Agents stamp their reports with strictly increasing `at`.
    // Bounded, so an agent whose clock stepped back cannot keep a gone session alive for long.
    const stale = [...online.values()].filter((s) => !(s.lastSeenAt >= at && s.lastSeenAt - at < NEWER_REPORT_WINDOW_MS)).map((s) => s.id);
    online.clear();
    for (let i = 0; i < stale.length; i += SNAPSHOT_CHUNK) {
      await yieldTurn();
      await this.changing(async (tx) => {
        await tx.gateways.upsert(gateway);
        const ids = stale.slice(i, i + SNAPSHOT_CHUNK);
        // Sessions with a pending disconnect intent end as that operator's (or, after a restart, as one).
        const settled = await settleUnlisted(tx, ids, { at, now: this.now(), restarted: state.restarted });
        const ended = await tx.sessions.markEndedMany(ids.filter((id) => !settled.sessionIds.has(id)), { endedAt: at, cause });
        return [...settled.events, ...ended.map((s) => sessionEvent('session.disconnected', s))];
      });
    }
  }

  /** Creates the session for a ref seen for the first time; refreshes a known one; never revives an ended one. */
  private async upsertSession(tx: StoreTx, gatewayId: string, report: SessionReport, at: number): Promise<SessionEvent[]> {
    const existing = await tx.sessions.findByRef(gatewayId, report.ref);
    if (existing) {
      if (existing.endedAt === null) {
        await tx.sessions.updateStats(existing.id, { bytesReceived: report.bytesReceived, bytesSent: report.bytesSent, lastSeenAt: at });
      }
      return [];
    }
    const gateway = await tx.gateways.findById(gatewayId);
    if (!gateway) {
      this.unknownGateway(gatewayId);
      return [];
    }
    const session = newSession(gatewayId, report, at, gateway.protocol);
    // Another replica applying the same report may have inserted it since the lookup: only the
    // replica whose insert wrote the row announces it.
    if (!(await tx.sessions.insertIfAbsent(session))) return [];
    return [sessionEvent('session.connected', session)];
  }

  private async end(tx: StoreTx, id: string, cause: EndCause, at: number, finalStats?: SessionEnd['finalStats']): Promise<SessionEvent | null> {
    const ended = await tx.sessions.markEnded(id, { endedAt: at, cause, finalStats });
    return ended ? sessionEvent('session.disconnected', ended) : null;
  }

  /** A transaction that changes sessions: its events (outbox and webhook rows) commit with it. */
  private changing(fn: (tx: StoreTx) => Promise<SessionEvent[]>): Promise<SessionEvent[]> {
    return this.deps.store.transaction(async (tx) => {
      const events = await fn(tx);
      await appendSessionEvents(tx, events, this.now());
      return events;
    });
  }
}

/** The row for a ref seen for the first time. */
function newSession(gatewayId: string, report: SessionReport, at: number, protocol: Protocol | null): Session {
  // Field by field, not `...report` and more fields: applying a 100k-session snapshot with the
  // spread peaked at 246 MB of V8 heap, this way at 92 MB (and 20% faster).
  return {
    id: newSessionId(),
    gatewayId,
    ref: report.ref,
    userId: userIdFor(report.userName),
    userName: report.userName,
    commonName: report.commonName,
    clientAddress: report.clientAddress,
    virtualAddress: report.virtualAddress,
    virtualAddress6: report.virtualAddress6,
    protocol: protocol ?? 'openvpn',
    connectedAt: report.connectedAt,
    lastSeenAt: at,
    bytesReceived: report.bytesReceived,
    bytesSent: report.bytesSent,
    clientVersion: report.clientVersion,
    clientPlatform: report.clientPlatform,
    endedAt: null,
    endCause: null,
    endedByTokenId: null,
    endedByName: null,
    endReason: null,
  };
}

/** Lets queued I/O and timers (API requests) run before the next chunk takes the connection. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** An audit id fixed by the report it records (agent run + sequence number), the same on every replica. */
function reportAuditId(r: GatewayReport): string {
  return idOf('auditEvent', createHash('sha256').update(`${r.gatewayId}:${r.agentId}:${r.seq}`).digest('hex').slice(0, ID_KINDS.auditEvent.length));
}

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
