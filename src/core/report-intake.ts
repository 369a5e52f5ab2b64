import { z } from 'zod';
import {
  gatewayReportSchema,
  MAX_SNAPSHOT_PART_SESSIONS,
  readWire,
  sessionReportSchema,
  type GatewayReport,
  type WireResult,
} from './reports.js';
import type { Logger } from '../domain/logger.js';

/** Between two warnings about one gateway's dropped reports: a flood of them is counted, not logged each. */
const WARN_EVERY_MS = 10_000;
/** Gateways tracked one by one; past this many (a client inventing subjects), only the totals count. */
const MAX_TRACKED_GATEWAYS = 10_000;
/**
 * Sessions of a snapshot checked in one turn of the event loop (`readSliced`): checking a part of
 * 1,000 in one go took tens of milliseconds on a loaded replica, and every API request that arrived
 * meanwhile waited for it.
 */
export const CHECK_SLICE = 100;
const sessionsSchema = z.array(sessionReportSchema);

/** What this replica thinks of one gateway's messages (the `Gateway` type shows it). */
export interface WireStatus {
  /** Why the gateway's reports are refused (an agent speaking another wire version), or null. */
  degradedReason: string | null;
  /** Reports received on the gateway's subject and dropped, since this replica started. */
  rejectedReports: number;
}

/** Totals since start, by why a report was dropped (for logs and a later metrics endpoint). */
export interface IntakeCounters {
  /** The body named another gateway than the subject it arrived on. */
  gatewayMismatch: number;
  /** A version of the wire contract this build does not speak. */
  unsupportedVersion: number;
  /** The right version, but not the contract's shape or bounds. */
  invalid: number;
  /** On a subject that names no valid gateway. */
  badSubject: number;
  /** Stamped by an agent of another deployment (two deployments on one NATS prefix). */
  otherDeployment: number;
}

interface GatewayState {
  degradedReason: string | null;
  rejected: number;
  lastWarnAt: number;
}

/**
 * The door every gateway report comes in by. The gateway a report speaks for is the one its subject
 * names, because the subject is what NATS permissions bind to the agent's credentials; its body is
 * only what that agent wrote. So a report is applied only if it fits the wire contract, is of the
 * version this build speaks, and its body's `gatewayId` is its subject's. Anything else is dropped,
 * counted and logged; a report of another version also marks the gateway degraded until one this
 * build can read arrives, so a mixed-version rolling upgrade shows instead of silently losing data.
 */
export class ReportIntake {
  readonly counters: IntakeCounters = {
    gatewayMismatch: 0,
    unsupportedVersion: 0,
    invalid: 0,
    badSubject: 0,
    otherDeployment: 0,
  };
  private readonly gateways = new Map<string, GatewayState>();
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      logger: Logger;
      now?: () => number;
      /** This replica's deployment: a report stamped with another one is dropped (unstamped ones are applied). */
      deploymentId?: string;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** The report to apply, or null when it is dropped. `subjectGatewayId`: the gateway its subject names, if any. */
  read(data: unknown, subjectGatewayId: string | null, subject: string): GatewayReport | null {
    if (subjectGatewayId === null) return this.badSubject(subject);
    return this.judge(readWire(gatewayReportSchema, data), subjectGatewayId);
  }

  /**
   * As `read`, but a snapshot of more than CHECK_SLICE sessions is checked CHECK_SLICE sessions per
   * turn of the event loop (the rest of the report first): the same checks, the same verdict, and
   * requests are served in between. Any other report is read at once (its promise settles in a
   * microtask). Reports read this way may settle out of their arrival order: a caller that keeps a
   * gateway's order waits for the previous report's verdict (SessionSync does).
   */
  async readSliced(data: unknown, subjectGatewayId: string | null, subject: string): Promise<GatewayReport | null> {
    const sessions = manySessions(data);
    if (subjectGatewayId === null || sessions === null) return this.read(data, subjectGatewayId, subject);
    const head = readWire(gatewayReportSchema, { ...(data as object), sessions: [] });
    if (!head.ok || head.value.gatewayId !== subjectGatewayId || head.value.type !== 'snapshot')
      return this.judge(head, subjectGatewayId);
    const checked: z.output<typeof sessionsSchema> = [];
    for (let i = 0; i < sessions.length; i += CHECK_SLICE) {
      await new Promise((resolve) => setImmediate(resolve));
      const r = sessionsSchema.safeParse(sessions.slice(i, i + CHECK_SLICE));
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const [index, ...path] = issue.path;
        const at = ['sessions', i + Number(index), ...path].join('.');
        return this.judge({ ok: false, problem: 'invalid', detail: `${at}: ${issue.message}` }, subjectGatewayId);
      }
      for (const s of r.data) checked.push(s);
    }
    return this.judge({ ok: true, value: { ...head.value, sessions: checked } }, subjectGatewayId);
  }

  /** Whether `readSliced` checks this report over several turns of the event loop (a large snapshot). */
  sliced(data: unknown): boolean {
    return manySessions(data) !== null;
  }

  private badSubject(subject: string): null {
    this.counters.badSubject++;
    this.deps.logger.warn(
      { subject: subject.slice(0, 200) },
      'gateway report on a subject that names no valid gateway; dropped',
    );
    return null;
  }

  /** The verdict on a checked report: counted and logged if refused, the report if it is to be applied. */
  private judge(r: WireResult<GatewayReport>, subjectGatewayId: string): GatewayReport | null {
    if (!r.ok) {
      const state = this.state(subjectGatewayId);
      state.rejected++;
      if (r.problem === 'unsupported-version') {
        this.counters.unsupportedVersion++;
        const reason = `its agent speaks a different wire version (${r.detail}); its reports are refused`;
        if (state.degradedReason !== reason) {
          state.degradedReason = reason;
          // One clear line when it starts (not one per message): the operator must upgrade one side.
          this.deps.logger.error({ gatewayId: subjectGatewayId, version: r.version }, `gateway degraded: ${reason}`);
        }
        return null;
      }
      this.counters.invalid++;
      this.warn(
        state,
        { gatewayId: subjectGatewayId, problem: r.detail },
        'gateway report does not fit the wire contract; dropped',
      );
      return null;
    }
    const report = r.value;
    if (report.gatewayId !== subjectGatewayId) {
      const state = this.state(subjectGatewayId);
      state.rejected++;
      this.counters.gatewayMismatch++;
      this.warn(
        state,
        { gatewayId: subjectGatewayId, claimedGatewayId: report.gatewayId, type: report.type, agentId: report.agentId },
        'gateway report names another gateway than its subject; dropped',
      );
      return null;
    }
    if (
      report.deploymentId !== undefined &&
      this.deps.deploymentId !== undefined &&
      report.deploymentId !== this.deps.deploymentId
    ) {
      const state = this.state(subjectGatewayId);
      state.rejected++;
      this.counters.otherDeployment++;
      this.warn(
        state,
        {
          gatewayId: subjectGatewayId,
          deploymentId: this.deps.deploymentId,
          reportDeploymentId: report.deploymentId,
          agentId: report.agentId,
        },
        'gateway report of an agent of another deployment (two deployments on one NATS prefix?); dropped',
      );
      return null;
    }
    const state = this.gateways.get(subjectGatewayId);
    if (state?.degradedReason) {
      state.degradedReason = null;
      this.deps.logger.info({ gatewayId: subjectGatewayId }, 'gateway reports are readable again; no longer degraded');
    }
    return report;
  }

  /** This replica's view of one gateway's messages. */
  status(gatewayId: string): WireStatus {
    const state = this.gateways.get(gatewayId);
    return { degradedReason: state?.degradedReason ?? null, rejectedReports: state?.rejected ?? 0 };
  }

  private state(gatewayId: string): GatewayState {
    let state = this.gateways.get(gatewayId);
    if (!state) {
      state = { degradedReason: null, rejected: 0, lastWarnAt: -Infinity };
      if (this.gateways.size < MAX_TRACKED_GATEWAYS) this.gateways.set(gatewayId, state);
    }
    return state;
  }

  private warn(state: GatewayState, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (now - state.lastWarnAt < WARN_EVERY_MS) return;
    state.lastWarnAt = now;
    this.deps.logger.warn({ ...fields, rejectedReports: state.rejected }, message);
  }
}

/** A snapshot's sessions when there are more than CHECK_SLICE of them (and not more than a part may hold); else null. */
function manySessions(data: unknown): unknown[] | null {
  if (typeof data !== 'object' || data === null) return null;
  const r = data as { type?: unknown; sessions?: unknown };
  if (r.type !== 'snapshot' || !Array.isArray(r.sessions)) return null;
  return r.sessions.length > CHECK_SLICE && r.sessions.length <= MAX_SNAPSHOT_PART_SESSIONS ? r.sessions : null;
}
