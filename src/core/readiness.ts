/**
 * Readiness (`GET /readyz`): may a load balancer send this replica traffic? Yes only when the store
 * answers a cheap query in time, every migration this code knows is applied, the bus is connected,
 * and no other deployment announces itself on this deployment's NATS prefix. Liveness (`/healthz`)
 * is another question and stays independent of all of them.
 */
import type { Bus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import type { DeploymentConflict } from './deployment-guard.js';

/** The checks, in the order they are reported. */
export const READINESS_CHECKS = ['store', 'migrations', 'bus', 'deployment'] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];

/** `checks`: `ok`, `not checked` (it depends on one that failed), or a short reason (never a credential, never a host name). */
export interface ReadinessReport {
  ready: boolean;
  failed: ReadinessCheck[];
  checks: Record<ReadinessCheck, string>;
}

const NOT_CHECKED = 'not checked';

/** How long the store's query may take before the replica counts as not ready (ms). */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

export function createReadiness(deps: {
  store: Store;
  bus: Bus;
  timeoutMs?: number;
  /** Another deployment heard on this bus prefix (see deployment-guard.ts): not ready while there is one. */
  deploymentConflict?: () => DeploymentConflict | null;
}): () => Promise<ReadinessReport> {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  return async () => {
    const checks: Record<ReadinessCheck, string> = { store: 'ok', migrations: 'ok', bus: 'ok', deployment: 'ok' };
    const store = await deps.store.checkReady(timeoutMs);
    if (!store.ok) {
      checks[store.check] = store.detail;
      // A database that did not answer could not say which migrations it has.
      if (store.check === 'store') checks.migrations = NOT_CHECKED;
    }
    if (!deps.bus.connected) checks.bus = deps.bus.kind === 'nats' ? 'not connected to NATS (reconnecting)' : 'closed';
    const conflict = deps.deploymentConflict?.();
    if (conflict)
      checks.deployment = `another deployment (${conflict.otherDeploymentId}) announces itself on this NATS prefix; disconnects are refused`;
    const failed = READINESS_CHECKS.filter((c) => checks[c] !== 'ok' && checks[c] !== NOT_CHECKED);
    return { ready: failed.length === 0, failed, checks };
  };
}
