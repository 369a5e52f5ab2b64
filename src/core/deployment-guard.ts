/**
 * Two deployments on one NATS subject prefix, detected. Nothing on the bus tells two deployments with
 * the same prefix apart: each one's replicas would apply the other's reports, and a disconnect could
 * reach the other deployment's agent, which answers for its own daemon (and may end a session there).
 * So every replica announces its deployment's id (its store's, the same for all its replicas) at start
 * and every `periodMs`, and listens. While another id has been heard within CONFLICT_PERIODS periods,
 * `conflict()` names it: disconnects are refused (DEPLOYMENT_CONFLICT), `/readyz` says not ready, and
 * one error line per period names the prefix and both ids. The in-process bus has one replica and no
 * one to meet: the guard is not started there.
 */
import type { Logger } from '../domain/logger.js';
import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import { deploymentAnnounceSchema, readWire, versioned, type DeploymentAnnounce } from './reports.js';

/** A conflict lasts until no other deployment has been heard for this many announce periods. */
export const CONFLICT_PERIODS = 3;

export interface DeploymentConflict {
  /** This deployment's id and the other one's, as announced (the latest heard, if several). */
  deploymentId: string;
  otherDeploymentId: string;
  /** When the other was last heard (ms since the epoch). */
  lastHeardAt: number;
}

export interface DeploymentGuardOptions {
  bus: Bus;
  logger: Logger;
  deploymentId: string;
  replicaId: string;
  /** The NATS subject prefix, for the log line only. */
  prefix: string;
  periodMs: number;
  now?: () => number;
}

export class DeploymentGuard {
  /** Other deployments' ids, by when each was last heard. */
  private readonly others = new Map<string, number>();
  private readonly now: () => number;
  private unsubscribe: Unsubscribe | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastLoggedAt = -Infinity;
  private reported = false;

  constructor(private readonly o: DeploymentGuardOptions) {
    this.now = o.now ?? Date.now;
  }

  get deploymentId(): string {
    return this.o.deploymentId;
  }

  start(): void {
    if (this.timer) return;
    this.unsubscribe = this.o.bus.subscribe(subjects.deploymentAnnounce, (data) => this.heard(data));
    this.announce();
    this.timer = setInterval(() => this.tick(), this.o.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** The other deployment heard on this prefix within CONFLICT_PERIODS periods, or null. */
  conflict(): DeploymentConflict | null {
    const since = this.now() - CONFLICT_PERIODS * this.o.periodMs;
    let found: DeploymentConflict | null = null;
    for (const [id, at] of this.others) {
      if (at < since) this.others.delete(id);
      else if (!found || at > found.lastHeardAt)
        found = { deploymentId: this.o.deploymentId, otherDeploymentId: id, lastHeardAt: at };
    }
    return found;
  }

  private tick(): void {
    this.announce();
    const c = this.conflict();
    if (c) this.log(c);
    else if (this.reported) {
      this.reported = false;
      this.o.logger.warn(
        { natsPrefix: this.o.prefix, deploymentId: this.o.deploymentId },
        'no other deployment heard on this NATS prefix any more: disconnects are sent again',
      );
    }
  }

  private announce(): void {
    if (!this.o.bus.connected) return;
    const body: DeploymentAnnounce = { deploymentId: this.o.deploymentId, replicaId: this.o.replicaId };
    this.o.bus.publish(subjects.deploymentAnnounce, versioned(body)).catch(() => {
      // The next period announces again; a bus that is down carries nobody else's either.
    });
  }

  private heard(data: unknown): void {
    const read = readWire(deploymentAnnounceSchema, data);
    if (!read.ok) {
      this.o.logger.warn(
        { problem: read.problem, detail: read.detail },
        'deployment announcement refused: it does not fit the wire contract',
      );
      return;
    }
    if (read.value.deploymentId === this.o.deploymentId) return;
    const at = this.now();
    this.conflict(); // forgets the ids not heard for CONFLICT_PERIODS periods
    const met = !this.others.has(read.value.deploymentId);
    this.others.set(read.value.deploymentId, at);
    // Newly met: answered at once, so the deployment that just started hears this one now, not a
    // period later (it announced itself at start; this one's next turn may be up to a period away).
    if (met) this.announce();
    this.log({ deploymentId: this.o.deploymentId, otherDeploymentId: read.value.deploymentId, lastHeardAt: at });
  }

  /** One error line per period at most while the conflict lasts. */
  private log(c: DeploymentConflict): void {
    const now = this.now();
    if (now - this.lastLoggedAt < this.o.periodMs) return;
    this.lastLoggedAt = now;
    this.reported = true;
    this.o.logger.error(
      { natsPrefix: this.o.prefix, deploymentId: c.deploymentId, otherDeploymentId: c.otherDeploymentId },
      'another Switchboard deployment announces itself on this NATS prefix: disconnects are refused (DEPLOYMENT_CONFLICT) and /readyz says not ready until it is gone; give each deployment its own SWITCHBOARD_NATS_PREFIX',
    );
  }
}

/** What a refused disconnect and `/readyz` say. */
export function conflictMessage(c: DeploymentConflict): string {
  return `Another Switchboard deployment (${c.otherDeploymentId}) announces itself on this deployment's (${c.deploymentId}) NATS subject prefix: its agents could take this disconnect and end a session on their own daemons, so no disconnect is sent until it has not been heard for ${CONFLICT_PERIODS} announce periods. Give each deployment its own SWITCHBOARD_NATS_PREFIX; nothing was done`;
}
