/**
 * Reloading the gateway file without a restart (SIGHUP to `switchboard start`): which gateways were
 * added, removed or changed, and the record of it. Adapters are made and stopped by the caller (the
 * composition root picks implementations); this file only compares and records.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Actor } from '../domain/actor.js';
import type { GatewayConfig } from '../gateways/adapter.js';
import { SYSTEM_ACTOR } from '../domain/actor.js';
import type { Store, StoreTx } from '../store/store.js';
import type { GatewayReloadChange } from './reports.js';
import { auditEvent } from './audit.js';
import { appendSessionEvents } from './event-outbox.js';
import { sessionEvent } from './session-events.js';

export interface GatewayChanges {
  added: GatewayConfig[];
  removed: string[];
  /** Same id, other settings: its adapter is replaced (its daemon's tunnels are not touched). */
  changed: GatewayConfig[];
}

/** Compares two gateway lists by id; a gateway whose settings differ in any way is changed. */
export function diffGateways(current: readonly GatewayConfig[], next: readonly GatewayConfig[]): GatewayChanges {
  const before = new Map(current.map((g) => [g.id, g]));
  const after = new Map(next.map((g) => [g.id, g]));
  return {
    added: next.filter((g) => !before.has(g.id)),
    removed: current.filter((g) => !after.has(g.id)).map((g) => g.id),
    changed: next.filter((g) => before.has(g.id) && !isDeepStrictEqual(before.get(g.id), g)),
  };
}

export function hasChanges(c: GatewayChanges): boolean {
  return c.added.length + c.removed.length + c.changed.length > 0;
}

/**
 * Records a reload that was applied: new and changed gateways are written, the sessions of removed
 * ones end as GATEWAY_REMOVED (Switchboard no longer sees or controls them; their tunnels are not
 * touched), each with its event, and one `gateway.reload` audit row says what changed — all in one
 * transaction.
 *
 * A removed gateway is marked so in the store (`setRemoved`), which every replica shares: it is no
 * longer listed, and the reports of an agent that still serves it (another host's `switchboard
 * agent`, whose own file still lists it) are ignored by every replica — its heartbeats do not show it
 * connected again, its snapshots and deltas create no session. Only a gateway file that lists it
 * again (this reload's `added`, or a replica's start) brings it back.
 */
export async function recordReload(
  deps: { store: Store; now: () => number },
  actor: Actor,
  changes: GatewayChanges,
): Promise<void> {
  const at = deps.now();
  await deps.store.transaction(async (tx) => {
    for (const g of [...changes.added, ...changes.changed]) await declareGateway(tx, g);
    for (const id of changes.removed) {
      // First: its row's lock orders this against a snapshot being applied (see SnapshotApplier.begin).
      await tx.gateways.setRemoved(id, at);
      await endRemovedGateway(tx, id, at);
    }
    await tx.audit.append(auditEvent(actor, 'gateway.reload', 'SUCCESS', { at, metadata: summary(changes) }));
  });
}

/** A gateway a gateway file lists (at a start or a reload): written, and no longer removed if it was. */
export async function declareGateway(tx: Pick<StoreTx, 'gateways'>, g: GatewayConfig): Promise<void> {
  await tx.gateways.upsert({ id: g.id, name: g.name, region: g.region, protocol: g.protocol, mode: g.mode });
  await tx.gateways.setRemoved(g.id, null);
}

/**
 * A removed gateway's sessions end as GATEWAY_REMOVED (each with its event) and its agent reads as
 * gone. Also what a snapshot of a gateway removed meanwhile does (see SnapshotApplier).
 */
export async function endRemovedGateway(tx: StoreTx, id: string, at: number): Promise<void> {
  const online = await tx.sessions.listOnlineByGateway(id);
  const ended = await tx.sessions.markEndedMany(
    online.map((s) => s.id),
    { endedAt: at, cause: 'GATEWAY_REMOVED' },
  );
  await appendSessionEvents(
    tx,
    ended.map((s) => sessionEvent('session.disconnected', s)),
    at,
  );
  await tx.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: at });
}

/**
 * Records what an agent's reload did to one of its gateways (its `gateway.reload` report): a removed
 * gateway's sessions end as at a `start` reload, and one audit row per gateway says what changed (an
 * added or changed gateway's row comes from its agent's next heartbeat). Every replica applies the
 * report; `auditId` (fixed by the report) lets exactly one row exist, and sessions end once.
 */
export async function recordAgentReload(
  deps: { store: Store; now: () => number },
  report: { gatewayId: string; agentId: string; change: GatewayReloadChange; error?: string | undefined },
  auditId: string,
): Promise<void> {
  const at = deps.now();
  const { gatewayId, agentId, change } = report;
  const row =
    change === 'refused'
      ? auditEvent(SYSTEM_ACTOR, 'gateway.reload', 'FAILED', {
          at,
          targetGatewayId: gatewayId,
          errorCode: 'BAD_CONFIG',
          metadata: { agentId, error: report.error ?? null },
        })
      : auditEvent(SYSTEM_ACTOR, 'gateway.reload', 'SUCCESS', {
          at,
          targetGatewayId: gatewayId,
          metadata: { agentId, ...summary({ added: [], removed: [], changed: [] }), [change]: [gatewayId] },
        });
  await deps.store.transaction(async (tx) => {
    if (change === 'removed') await endRemovedGateway(tx, gatewayId, at);
    await tx.audit.appendIfAbsent({ ...row, id: auditId });
  });
}

/** A reload that was refused (the file did not load): the running gateways stay as they were. */
export async function recordRefusedReload(
  deps: { store: Store; now: () => number },
  actor: Actor,
  error: string,
): Promise<void> {
  await deps.store.audit.append(
    auditEvent(actor, 'gateway.reload', 'FAILED', { at: deps.now(), errorCode: 'BAD_CONFIG', metadata: { error } }),
  );
}

function summary(c: GatewayChanges): Record<string, unknown> {
  return { added: c.added.map((g) => g.id), removed: c.removed, changed: c.changed.map((g) => g.id) };
}
