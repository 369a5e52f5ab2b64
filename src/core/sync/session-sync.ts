import type { SettledIntents } from '../settled-intents.js';
import type { KillsInFlight } from '../kills-in-flight.js';
import { createHash } from 'node:crypto';
import { ID_KINDS, idOf, newId } from '../../domain/ids.js';
import { SYSTEM_ACTOR } from '../../domain/actor.js';
import type { Logger } from '../../domain/logger.js';
import { GATEWAY_PROBLEM } from '../../domain/gateway.js';
import { reportSubjectGatewayId, subjects, type Bus, type Unsubscribe } from '../../bus/bus.js';
import type { Store } from '../../store/store.js';
import { auditEvent } from '../audit.js';
import { recordAgentReload } from '../gateway-reload.js';
import { versioned, type GatewayReport } from '../reports.js';
import { ReportIntake } from '../report-intake.js';
import type { SessionEvent } from '../session-events.js';
import { DeltaApplier } from './deltas.js';
import { coalesceReports } from './coalesce.js';
import { ReportQueue } from './report-queue.js';
import { SnapshotApplier } from './snapshots.js';

/** See SessionSync.onSnapshot. */
export type SnapshotListener = (r: Extract<GatewayReport, { type: 'snapshot' }>, here: boolean) => void;

/** Bounds one batched transaction (a run of connects or of disconnects), so it holds the (SQLite: only) connection for a short while. */
const MAX_CONNECTED_PER_TRANSACTION = 500;
/** Least time between two hellos sent because of deltas of an unknown gateway. */
const HELLO_AGAIN_MS = 2_000;
/** Gateways whose last agent run is tracked (`runs`); past this many, a goodbye is applied unchecked. */
const MAX_TRACKED_RUNS = 100_000;

/**
 * Reconciles the store with what agents report. Reports of one gateway are applied strictly in order
 * (ReportQueue); a snapshot is the truth (SnapshotApplier: sessions it lacks are ended, sessions it
 * has are created or refreshed); deltas keep the store current in between (DeltaApplier). A lost
 * delta: the store heals at the next snapshot, and an ended session never comes back to life, so no
 * phantom survives; the lost live event does not heal: subscribers and webhooks hear of the change
 * only from that snapshot, late, and an end with the snapshot's time and cause (CLIENT_DISCONNECT or
 * GATEWAY_RESTART) instead of the daemon's.
 *
 * Several replicas: every replica receives every report (no queue group, which would hand report N
 * to one replica and N+1 to another and break per-gateway order) and applies it idempotently. The
 * database decides which replica changed a row (`insertIfAbsent`, the conditional `markEnded`), and
 * only that one writes the session event, into the outbox in the same transaction: each change is
 * applied and announced once, and a replica that dies after its commit loses nothing (any replica's
 * relay publishes the event).
 */
export class SessionSync {
  private readonly queue = new ReportQueue((reports) => this.applyBatch(reports));
  /** Per gateway: the reading of its last report still being checked (see `receive`). */
  private readonly reading = new Map<string, Promise<void>>();
  private readonly deltas: DeltaApplier;
  private readonly snapshots: SnapshotApplier;
  private unsubscribe: Unsubscribe | null = null;
  private readonly now: () => number;
  private readonly snapshotListeners = new Set<SnapshotListener>();

  private readonly replicaId = newId('replica');
  private lastHelloAt = -Infinity;
  private helloTimer: NodeJS.Timeout | null = null;
  /** Gateways whose deltas came before their first snapshot or heartbeat (logged once each). */
  private readonly unknownGateways = new Set<string>();
  /** Removed gateways whose agent's reports this replica ignored (logged once each). */
  private readonly removedGateways = new Set<string>();
  /**
   * Per gateway: the agent run (`agentId`) of the last heartbeat, snapshot or goodbye this replica
   * applied. A goodbye of another run is an old run's, late: the run heard since holds the link.
   */
  private readonly runs = new Map<string, string>();
  /** Checks every report against the wire contract and its subject before it is applied. */
  readonly intake: ReportIntake;

  constructor(
    private readonly deps: {
      store: Store;
      bus: Bus;
      logger: Logger;
      now?: () => number;
      intake?: ReportIntake;
      /** Told of every intent a daemon's report settled here (the disconnect waiting for its reply takes it). */
      settled?: SettledIntents;
      /**
       * Kills this process awaits the reply of: their sessions' `session.disconnected` reports are
       * parked there for the reply to settle (see KillsInFlight), and applied here when it gives them back.
       */
      kills?: KillsInFlight;
    },
  ) {
    this.now = deps.now ?? Date.now;
    deps.kills?.setApplier((r) => this.enqueue(r));
    this.intake = deps.intake ?? new ReportIntake({ logger: deps.logger, now: this.now });
    const removedGateway = (id: string) => this.removedGateway(id);
    this.deltas = new DeltaApplier({
      store: deps.store,
      now: this.now,
      unknownGateway: (id) => this.unknownGateway(id),
      removedGateway,
      settled: deps.settled,
    });
    this.snapshots = new SnapshotApplier({ store: deps.store, now: this.now, logger: deps.logger, removedGateway });
  }

  /**
   * Tells `listener` after each snapshot (part) this replica applied, or found applied by another
   * replica: `here` is false then (a whole snapshot's claim), and nothing was written here. A failed
   * apply is told as applied here.
   */
  onSnapshot(listener: SnapshotListener): Unsubscribe {
    this.snapshotListeners.add(listener);
    return () => this.snapshotListeners.delete(listener);
  }

  /** Consumes every gateway's reports; each replica sees all of them (see the class comment). */
  start(): void {
    this.unsubscribe = this.deps.bus.subscribe(subjects.allGatewayReports, (data, subject) =>
      this.receive(data, subject),
    );
    // Agents that started before this replica: their sessions now, not at their next periodic snapshot.
    this.sayHello();
  }

  /**
   * A report as it arrives: checked (ReportIntake), then queued. A large snapshot is checked a slice
   * per turn of the event loop (`readSliced`); the gateway's reports that arrive meanwhile wait for
   * its verdict, so they reach the queue in the order they arrived. Other reports are checked and
   * queued at once, as they arrive.
   */
  private receive(data: unknown, subject: string): Promise<void> | undefined {
    const gatewayId = reportSubjectGatewayId(subject);
    const before = gatewayId === null ? undefined : this.reading.get(gatewayId);
    if (before === undefined && !this.intake.sliced(data)) {
      const report = this.intake.read(data, gatewayId, subject);
      return report ? this.enqueue(report) : undefined;
    }
    const key = gatewayId!;
    let applied: Promise<void> | undefined;
    const read = (before ?? Promise.resolve())
      .then(() => this.intake.readSliced(data, gatewayId, subject))
      .then((report) => {
        if (report) applied = this.enqueue(report);
      })
      .catch((e: unknown) => this.deps.logger.error({ err: e, gatewayId }, 'reading gateway report failed'))
      .finally(() => {
        if (this.reading.get(key) === read) this.reading.delete(key);
      });
    this.reading.set(key, read);
    return read.then(() => applied);
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
      this.deps.logger.info(
        { gatewayId },
        'report of a gateway this replica does not know yet; asking its agent for a snapshot',
      );
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

  /**
   * A report of a gateway a reload of a control plane's gateway file removed, from an agent that still
   * serves it (its own file still lists it): ignored (see core/gateway-reload.ts). Logged once per
   * gateway by each replica, as a warning: the agent's file is the one to change.
   */
  private removedGateway(gatewayId: string): void {
    if (this.removedGateways.has(gatewayId) || this.removedGateways.size >= 10_000) return;
    this.removedGateways.add(gatewayId);
    this.deps.logger.warn(
      { gatewayId },
      "gateway removed from this replica's gateway file: its agent's reports are ignored (remove it from the agent's file too, or list it again here)",
    );
  }

  stop(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Resolves when every report received so far has been applied (tests and shutdown use it). */
  async idle(): Promise<void> {
    await this.read();
    return this.queue.idle();
  }

  /** Shutdown after its bound: lets the batches applying now finish, drops the rest (see ReportQueue.abandon). */
  async abandon(): Promise<number> {
    await this.read();
    return this.queue.abandon();
  }

  /** Resolves when every report received so far has been checked (and queued, if it is to be applied). */
  private async read(): Promise<void> {
    while (this.reading.size > 0) await Promise.allSettled([...this.reading.values()]);
  }

  /**
   * Applies `report` after every earlier report of its gateway (see ReportQueue). A run of
   * `connected` (or `disconnected`) reports in one batch shares one transaction instead of one
   * each; if that transaction fails, the run is retried report by report. Reports a later one of
   * the batch makes redundant (an older snapshot, a repeated heartbeat) are skipped: see coalesceReports.
   */
  enqueue(report: GatewayReport): Promise<void> {
    return this.queue.enqueue(report);
  }

  private async applyBatch(batch: GatewayReport[]): Promise<void> {
    const reports = coalesceReports(
      this.deps.kills ? this.parking(batch, this.deps.kills) : batch,
      (gatewayId, startedAt) => this.snapshots.appliedRun(gatewayId) === startedAt,
    );
    for (let i = 0; i < reports.length;) {
      let j = i;
      const type = reports[i]!.type;
      const batchable = type === 'session.connected' || type === 'session.disconnected';
      while (batchable && j < reports.length && j - i < MAX_CONNECTED_PER_TRANSACTION && reports[j]!.type === type) j++;
      if (j - i > 1) {
        const run = reports.slice(i, j);
        await this.applyRun(run, () =>
          type === 'session.connected'
            ? this.deltas.connectedRun(run as Extract<GatewayReport, { type: 'session.connected' }>[])
            : this.deltas.disconnectedRun(run as Extract<GatewayReport, { type: 'session.disconnected' }>[]),
        );
        i = j;
      } else {
        await this.applyOne(reports[i]!);
        i++;
      }
    }
  }

  /**
   * The batch without the reports parked for a kill in flight (KillsInFlight), and with parked
   * reports put back before the first later report that depends on them: a snapshot (it would end
   * the session itself) takes all of its gateway's, a `session.connected` or `session.disconnected`
   * of a ref that ref's. Decided synchronously, in the gateway's order: a reply cannot release a
   * report between its parking and this batch's application.
   */
  private parking(batch: GatewayReport[], kills: KillsInFlight): GatewayReport[] {
    const out: GatewayReport[] = [];
    for (const r of batch) {
      if (r.type === 'session.disconnected') {
        if (kills.park(r)) continue;
        out.push(...kills.unpark(r.gatewayId, r.ref));
      } else if (r.type === 'session.connected') out.push(...kills.unpark(r.gatewayId, r.session.ref));
      else if (r.type === 'snapshot') out.push(...kills.unpark(r.gatewayId));
      out.push(r);
    }
    return out;
  }

  /** A run of reports in one transaction, with its events; if it fails, report by report. */
  private async applyRun(run: GatewayReport[], apply: () => Promise<SessionEvent[]>): Promise<void> {
    try {
      await apply();
    } catch {
      for (const r of run) await this.applyOne(r);
    }
  }

  private async applyOne(report: GatewayReport): Promise<void> {
    try {
      await this.apply(report);
    } catch (e) {
      this.deps.logger.error(
        { err: e, gatewayId: report.gatewayId, type: report.type },
        'applying gateway report failed',
      );
    }
  }

  /**
   * Notes `r`'s agent run as the gateway's current one, unless `r` is a goodbye of another run than
   * the current one: false then. Reports are applied in each gateway's order, so the current run is
   * the one heard last; session deltas do not count (a report parked for a kill comes back late).
   */
  private heardRun(r: GatewayReport): boolean {
    const current = this.runs.get(r.gatewayId);
    if (r.type === 'link-down' && r.stopped && current !== undefined && current !== r.agentId) return false;
    if (current !== r.agentId && (current !== undefined || this.runs.size < MAX_TRACKED_RUNS))
      this.runs.set(r.gatewayId, r.agentId);
    return true;
  }

  private async apply(r: GatewayReport): Promise<void> {
    const { store } = this.deps;
    switch (r.type) {
      // A gateway's last-seen time is when a replica heard its agent, by the control plane's clock:
      // liveness is judged against that clock, so an agent host's clock skew cannot fake or hide it.
      case 'heartbeat': {
        this.heardRun(r);
        const gateway = { id: r.gatewayId, ...r.gateway };
        const status = {
          agentConnected: r.linkUp,
          lastSeenAt: this.now(),
          daemonResponding: r.daemonResponding ?? true,
        };
        // The usual beat in one statement; a daemon not responding also records the error, which is
        // judged against the status stored before this beat. Neither writes a removed gateway.
        if (!(r.linkUp && r.daemonResponding === false)) {
          if (!(await store.gateways.recordHeartbeat(gateway, status))) this.removedGateway(r.gatewayId);
          return;
        }
        if ((await store.gateways.findById(r.gatewayId))?.removedAt != null) return this.removedGateway(r.gatewayId);
        await store.gateways.upsert(gateway);
        await store.gateways.recordError(r.gatewayId, GATEWAY_PROBLEM.notResponding, status.lastSeenAt);
        await store.gateways.setAgentStatus(r.gatewayId, status);
        return;
      }
      case 'link-down':
        // A goodbye (the agent stopped serving the gateway) speaks only for the run that sent it.
        if (r.stopped && !this.heardRun(r)) {
          this.deps.logger.debug(
            { gatewayId: r.gatewayId, agentId: r.agentId, current: this.runs.get(r.gatewayId) },
            "an old agent run's goodbye, after a newer run was heard; ignored",
          );
          return;
        }
        await store.gateways.recordError(r.gatewayId, r.error, this.now());
        await store.gateways.setAgentStatus(r.gatewayId, { agentConnected: false, lastSeenAt: this.now() });
        return;
      case 'session.connected':
        await this.deltas.connected(r);
        return;
      case 'session.disconnected':
        await this.deltas.disconnected(r);
        return;
      case 'snapshot': {
        this.heardRun(r);
        // Told even when applying failed (as if applied here): a listener errs towards acting.
        let here = true;
        try {
          here = await this.snapshots.apply(r);
        } finally {
          for (const listener of this.snapshotListeners) listener(r, here);
        }
        return;
      }
      case 'auth-denied':
        // Every replica applies this report; the id derived from it lets exactly one row exist.
        await store.audit.appendIfAbsent({
          ...auditEvent(SYSTEM_ACTOR, 'session.reconnect_blocked', 'SUCCESS', {
            at: r.at,
            targetUserName: r.userName,
            targetGatewayId: r.gatewayId,
            reason: r.reason,
            metadata: { clientAddress: r.clientAddress },
          }),
          id: reportAuditId(r),
        });
        return;
      case 'gateway.reload':
        return recordAgentReload({ store, now: this.now }, r, reportAuditId(r));
    }
  }
}

/** An audit id fixed by the report it records (agent run + sequence number), the same on every replica. */
function reportAuditId(r: GatewayReport): string {
  return idOf(
    'auditEvent',
    createHash('sha256')
      .update(`${r.gatewayId}:${r.agentId}:${r.seq}`)
      .digest('hex')
      .slice(0, ID_KINDS.auditEvent.length),
  );
}
