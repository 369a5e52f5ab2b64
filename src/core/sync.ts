import { createHash } from 'node:crypto';
import { newSessionId, userIdFor } from '../domain/ids.js';
import type { EndCause, Session, SessionReport } from '../domain/session.js';
import type { Protocol } from '../domain/gateway.js';
import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { Store, StoreTx } from '../store/store.js';
import { SYSTEM_ACTOR } from '../domain/actor.js';
import { auditEvent } from './audit.js';
import type { Logger } from './logger.js';
import { enqueueWebhookDeliveries } from './webhook-outbox.js';
import type { GatewayReport } from './reports.js';
import { publishSessionEvent, sessionEvent, type SessionEvent } from './session-events.js';

/** How far ahead of a snapshot a session's last report may be and still count as newer than it. */
const NEWER_REPORT_WINDOW_MS = 60_000;
/** Bounds one batched transaction, so it holds the (SQLite: only) connection for a short while. */
const MAX_CONNECTED_PER_TRANSACTION = 500;

/**
 * Reconciles the store with what agents report. Reports of one gateway are applied strictly in order;
 * a snapshot is the truth (sessions it lacks are ended, sessions it has are created or refreshed);
 * deltas keep the store current in between. A lost delta heals at the next snapshot, and an ended
 * session never comes back to life, so no phantom survives.
 *
 * Several replicas: every replica receives every report (no queue group, which would hand report N
 * to one replica and N+1 to another and break per-gateway order) and applies it idempotently. The
 * database decides which replica changed a row (`insertIfAbsent`, the conditional `markEnded`), and
 * only that one publishes the session event: each change is applied and announced once, and a dead
 * replica loses nothing while another runs.
 */
export class SessionSync {
  private readonly queues = new Map<string, Promise<void>>();
  /** Per gateway: the reports that arrived since its current work started, applied next as one batch. */
  private readonly waiting = new Map<string, { reports: GatewayReport[]; done: Promise<void> }>();
  private unsubscribe: Unsubscribe | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: { store: Store; bus: Bus; logger: Logger; now?: () => number }) {
    this.now = deps.now ?? Date.now;
  }

  /** Consumes every gateway's reports; each replica sees all of them (see the class comment). */
  start(): void {
    this.unsubscribe = this.deps.bus.subscribe(subjects.allGatewayReports, (data) => this.enqueue(data as GatewayReport));
  }

  stop(): void {
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
      while (j < reports.length && j - i < MAX_CONNECTED_PER_TRANSACTION && reports[j]!.type === 'connected') j++;
      if (j - i > 1) {
        await this.applyConnectedRun(reports.slice(i, j) as Extract<GatewayReport, { type: 'connected' }>[]);
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

  private async applyConnectedRun(run: Extract<GatewayReport, { type: 'connected' }>[]): Promise<void> {
    let events: SessionEvent[];
    try {
      events = await this.changing(async (tx) => {
        const all: SessionEvent[] = [];
        const protocols = new Map<string, Promise<Protocol | null>>();
        for (const r of run) all.push(...(await this.upsertSession(tx, r.gatewayId, r.session, r.at, protocols)));
        return all;
      });
    } catch {
      for (const r of run) await this.applyOne(r);
      return;
    }
    await this.publishAll(events);
  }

  private async apply(r: GatewayReport): Promise<void> {
    const { store } = this.deps;
    switch (r.type) {
      // A gateway's last-seen time is when a replica heard its agent, by the control plane's clock:
      // liveness is judged against that clock, so an agent host's clock skew cannot fake or hide it.
      case 'heartbeat':
        await store.gateways.upsert({ id: r.gatewayId, ...r.gateway });
        await store.gateways.setAgentStatus(r.gatewayId, { agentConnected: r.linkUp, lastSeenAt: this.now() });
        return;
      case 'link-down':
        await store.gateways.setAgentStatus(r.gatewayId, { agentConnected: false, lastSeenAt: this.now() });
        return;
      case 'connected':
        return this.publishAll(await this.changing((tx) => this.upsertSession(tx, r.gatewayId, r.session, r.at)));
      case 'disconnected':
        return this.publishAll(await this.changing(async (tx) => {
          const s = await tx.sessions.findByRef(r.gatewayId, r.ref);
          if (!s || s.endedAt !== null) return [];
          if (r.bytesReceived !== undefined && r.bytesSent !== undefined) {
            await tx.sessions.updateStats(s.id, { bytesReceived: r.bytesReceived, bytesSent: r.bytesSent, lastSeenAt: r.at });
          }
          const ended = await this.end(tx, s, r.cause, r.at);
          // The echo of an admin disconnect: core publishes that event itself, with its actor.
          return ended && r.cause !== 'ADMIN_DISCONNECT' ? [ended] : [];
        }));
      case 'snapshot':
        return this.publishAll(await this.applySnapshot(r));
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

  private async applySnapshot(r: Extract<GatewayReport, { type: 'snapshot' }>): Promise<SessionEvent[]> {
    return this.changing(async (tx) => {
      const before = await tx.gateways.findById(r.gatewayId);
      await tx.gateways.upsert({ id: r.gatewayId, ...r.gateway });
      // The upsert above locks the gateway's row until commit, so replicas applying the same snapshot
      // take turns, and the second one reads what the first wrote.
      await tx.gateways.setAgentStatus(r.gatewayId, { agentConnected: true, lastSeenAt: this.now(), daemonStartedAt: r.daemonStartedAt });
      const restarted = before?.daemonStartedAt != null && r.daemonStartedAt !== null && before.daemonStartedAt !== r.daemonStartedAt;
      const online = new Map((await tx.sessions.listOnlineByGateway(r.gatewayId)).map((s) => [s.ref, s]));
      const events: SessionEvent[] = [];
      const protocols = new Map<string, Promise<Protocol | null>>();
      for (const report of r.sessions) {
        const known = online.get(report.ref);
        if (known) {
          online.delete(report.ref);
          await tx.sessions.updateStats(known.id, { bytesReceived: report.bytesReceived, bytesSent: report.bytesSent, lastSeenAt: r.at });
        } else {
          events.push(...(await this.upsertSession(tx, r.gatewayId, report, r.at, protocols)));
        }
      }
      const cause: EndCause = restarted ? 'GATEWAY_RESTART' : 'CLIENT_DISCONNECT';
      for (const stale of online.values()) {
        // Seen in a report newer than this snapshot (a replica that was ahead applied it first): the
        // snapshot cannot speak for it. Agents stamp their reports with strictly increasing `at`.
        // Bounded, so an agent whose clock stepped back cannot keep a gone session alive for long.
        if (stale.lastSeenAt >= r.at && stale.lastSeenAt - r.at < NEWER_REPORT_WINDOW_MS) continue;
        const ended = await this.end(tx, stale, cause, r.at);
        if (ended) events.push(ended);
      }
      return events;
    });
  }

  /** Creates the session for a ref seen for the first time; refreshes a known one; never revives an ended one. */
  /** `protocols`: gateway protocol lookups shared by the calls of one transaction (one query, not one per session). */
  private async upsertSession(tx: StoreTx, gatewayId: string, report: SessionReport, at: number, protocols = new Map<string, Promise<Protocol | null>>()): Promise<SessionEvent[]> {
    const existing = await tx.sessions.findByRef(gatewayId, report.ref);
    if (existing) {
      if (existing.endedAt === null) {
        await tx.sessions.updateStats(existing.id, { bytesReceived: report.bytesReceived, bytesSent: report.bytesSent, lastSeenAt: at });
      }
      return [];
    }
    let protocol = protocols.get(gatewayId);
    if (protocol === undefined) {
      protocol = tx.gateways.findById(gatewayId).then((g) => g?.protocol ?? null);
      protocols.set(gatewayId, protocol);
    }
    const gatewayProtocol = await protocol;
    const session: Session = {
      ...report,
      id: newSessionId(),
      gatewayId,
      userId: userIdFor(report.userName),
      protocol: gatewayProtocol ?? 'openvpn',
      lastSeenAt: at,
      endedAt: null,
      endCause: null,
      endedByTokenId: null,
      endedByName: null,
      endReason: null,
    };
    // Another replica applying the same report may have inserted it since the lookup: only the
    // replica whose insert wrote the row announces it.
    if (!(await tx.sessions.insertIfAbsent(session))) return [];
    return [sessionEvent('session.connected', session)];
  }

  private async end(tx: StoreTx, s: Session, cause: EndCause, at: number): Promise<SessionEvent | null> {
    const changed = await tx.sessions.markEnded(s.id, { endedAt: at, cause });
    if (!changed) return null;
    return sessionEvent('session.disconnected', { ...s, endedAt: at, endCause: cause });
  }

  /** A transaction that changes sessions: the webhook outbox rows of its events commit with it. */
  private changing(fn: (tx: StoreTx) => Promise<SessionEvent[]>): Promise<SessionEvent[]> {
    return this.deps.store.transaction(async (tx) => {
      const events = await fn(tx);
      await enqueueWebhookDeliveries(tx, events, this.now());
      return events;
    });
  }

  private async publishAll(events: SessionEvent[]): Promise<void> {
    for (const e of events) {
      await publishSessionEvent(this.deps.bus, e, (err) => this.deps.logger.error({ err }, 'publishing session event failed'));
    }
  }
}

/** An audit id fixed by the report it records (agent run + sequence number), the same on every replica. */
function reportAuditId(r: GatewayReport): string {
  return `aud_${createHash('sha256').update(`${r.gatewayId}:${r.agentId}:${r.seq}`).digest('hex').slice(0, 16)}`;
}
