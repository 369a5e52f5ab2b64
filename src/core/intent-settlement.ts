/**
 * Settling a disconnect intent: the one place that turns "the operator asked" into what the record
 * says. Used by the disconnect use case (the gateway's reply), by sync (the daemon's later report of
 * the end, on any replica) and by the horizon. Every function runs in the caller's transaction and
 * settles through one conditional update, so an intent is settled exactly once, by whoever gets
 * there first; the loser writes nothing.
 */
import type { Actor } from '../domain/actor.js';
import type { AuditEvent, AuditOutcome } from '../domain/audit.js';
import type { Block } from '../domain/block.js';
import type { DisconnectIntent, IntentStatus } from '../domain/disconnect-intent.js';
import { newAuditEventId } from '../domain/ids.js';
import type { Session } from '../domain/session.js';
import type { SessionEnd, StoreTx } from '../store/store.js';
import { auditEvent } from './audit.js';
import { sessionEvent, type SessionEvent } from './session-events.js';

/** What `settleEnded` wrote: the session as it is now, its event (null when the session had ended before), the audit row's id. */
export interface EndedSettlement {
  session: Session;
  event: SessionEvent | null;
  auditEventId: string;
}

/** How the end became known: the gateway's reply to the request, or a later report of the daemon. */
export type ConfirmedBy = 'GATEWAY_REPLY' | 'DAEMON_REPORT';

/**
 * The session ended as this intent's disconnect: ADMIN_DISCONNECT with the intent's actor and reason,
 * at `at` (when the end was confirmed), the intent DONE and a SUCCESS audit row, all in `tx`; the
 * caller writes the returned event into the outbox in the same `tx` (`appendSessionEvents`, as it
 * does for its other events).
 * Null when the intent was settled already (by another replica, by sync, by the reply): then
 * nothing is written.
 */
export async function settleEnded(
  tx: StoreTx,
  intent: DisconnectIntent,
  end: {
    at: number;
    now: number;
    confirmedBy: ConfirmedBy;
    finalStats?: SessionEnd['finalStats'];
    durationMs?: number | null;
  },
): Promise<EndedSettlement | null> {
  const auditEventId = newAuditEventId();
  // The settlement, the end (a daemon echo applied by an older replica, ADMIN_DISCONNECT without
  // actor, is claimed too) and the SUCCESS row: one all-or-nothing call (one statement on PostgreSQL).
  const settled = await tx.intents.settleDone(
    intent.id,
    end.now,
    intent.sessionId,
    endOf({ intent, at: end.at, finalStats: end.finalStats }),
    successAudit(intent, auditEventId, end, end.durationMs ?? null),
  );
  if (!settled) return null;
  const { ended } = settled;
  // The agent blocked the user before its kill; the store keeps the block (the agents' source of truth).
  if (intent.blockSeconds !== null) await tx.blocks.put(blockOf(intent, end.at));
  const session = ended ?? (await tx.sessions.findById(intent.sessionId));
  if (!session) throw new Error(`disconnect intent ${intent.id} names an unknown session`);
  // Only the statement that ended the session announces it: one event per end.
  const event = ended ? endedEvent(intent, ended) : null;
  return { session, event, auditEventId };
}

/** One intent whose end was confirmed, for `settleEndedMany`. */
export interface ConfirmedEnd {
  intent: DisconnectIntent;
  /** When the end was confirmed (the reply's time, or the time of the daemon's report). */
  at: number;
  finalStats?: SessionEnd['finalStats'];
  durationMs?: number | null;
}

/**
 * `settleEnded` for many intents, in a handful of statements in `tx`: one conditional update settles
 * those still PENDING, and only for those are rows written (the others were settled already, by the
 * reply, by sync from the daemon's report or by another replica, which wrote theirs); their sessions
 * ended (one statement for ends alike: same actor and reason, and either the same time and no
 * final counters, as a bulk request's replies, or each its own time and counters, as a run of the
 * daemon's reports), `claimEcho` as in `settleEnded`; their blocks; one
 * multi-row insert of their SUCCESS rows. Returns what `settleEnded` would have for each intent
 * settled here, by intent id; the caller appends the events in `tx`.
 */
export async function settleEndedMany(
  tx: StoreTx,
  confirmed: readonly ConfirmedEnd[],
  o: { now: number; confirmedBy: ConfirmedBy },
): Promise<Map<string, EndedSettlement>> {
  const ids = new Map(confirmed.map((c) => [c.intent.id, newAuditEventId()]));
  const won = await tx.intents.settleMany(
    [...ids].map(([id, settledAuditEventId]) => ({ id, settledAuditEventId })),
    { status: 'DONE', settledAt: o.now },
  );
  const mine = confirmed.filter((c) => won.has(c.intent.id));
  const ended = new Map<string, Session>();
  // Ends alike (same actor and reason; without counters, also the same time) share one statement.
  const alike = new Map<string, ConfirmedEnd[]>();
  for (const c of mine) {
    const key = JSON.stringify([
      c.intent.actorTokenId,
      c.intent.actorName,
      c.intent.reason,
      c.finalStats ? 'each' : c.at,
    ]);
    const group = alike.get(key);
    if (group) group.push(c);
    else alike.set(key, [c]);
  }
  for (const group of alike.values()) {
    const first = endOf(group[0]!);
    const rows = group[0]!.finalStats
      ? // A run of daemon reports: each end at its report's time with its final counters.
        await tx.sessions.markEndedWithStats(
          group.map((c) => ({ id: c.intent.sessionId, endedAt: c.at, finalStats: c.finalStats! })),
          first,
          { claimEcho: true },
        )
      : await tx.sessions.markEndedMany(
          group.map((c) => c.intent.sessionId),
          first,
          { claimEcho: true },
        );
    for (const row of rows) ended.set(row.id, row);
  }
  for (const c of mine) if (c.intent.blockSeconds !== null) await tx.blocks.put(blockOf(c.intent, c.at));
  await tx.audit.appendMany(
    mine.map((c) =>
      successAudit(
        c.intent,
        ids.get(c.intent.id)!,
        { now: o.now, confirmedBy: o.confirmedBy, at: c.at },
        c.durationMs ?? null,
      ),
    ),
  );
  const out = new Map<string, EndedSettlement>();
  for (const { intent } of mine) {
    const row = ended.get(intent.sessionId);
    const session = row ?? (await tx.sessions.findById(intent.sessionId));
    if (!session) throw new Error(`disconnect intent ${intent.id} names an unknown session`);
    // Only the statement that ended the session announces it: one event per end.
    out.set(intent.id, { session, event: row ? endedEvent(intent, row) : null, auditEventId: ids.get(intent.id)! });
  }
  return out;
}

/** The end of a session as the intent's disconnect. */
function endOf(c: ConfirmedEnd): SessionEnd {
  return {
    endedAt: c.at,
    cause: 'ADMIN_DISCONNECT',
    endedByTokenId: c.intent.actorTokenId,
    endedByName: c.intent.actorName,
    endReason: c.intent.reason,
    finalStats: c.finalStats,
  };
}

/** The SUCCESS row of an intent whose session ended as its disconnect. */
function successAudit(
  intent: DisconnectIntent,
  id: string,
  end: { at: number; now: number; confirmedBy: ConfirmedBy },
  durationMs: number | null,
): AuditEvent {
  return settlementAudit(intent, id, 'SUCCESS', end.now, {
    durationMs,
    metadata: { confirmedBy: end.confirmedBy, late: intent.unconfirmedAt !== null, endedAt: end.at },
  });
}

/** The `session.disconnected` event of a session that ended as the intent's disconnect. */
function endedEvent(intent: DisconnectIntent, ended: Session): SessionEvent {
  return sessionEvent('session.disconnected', ended, {
    actor: { tokenId: intent.actorTokenId, name: intent.actorName },
    reason: intent.reason,
    message: intent.message,
  });
}

/** The outcome and error code each unsuccessful settlement is audited with. */
const AUDITED_AS: Record<Exclude<IntentStatus, 'PENDING' | 'DONE'>, { outcome: AuditOutcome; errorCode: string }> = {
  NOT_FOUND: { outcome: 'NOT_FOUND', errorCode: 'SESSION_NOT_FOUND' },
  NOT_SENT: { outcome: 'GATEWAY_UNAVAILABLE', errorCode: 'GATEWAY_UNAVAILABLE' },
  FAILED: { outcome: 'FAILED', errorCode: 'DISCONNECT_FAILED' },
};

/**
 * Settles an intent that did not end its session (NOT_FOUND, NOT_SENT, FAILED) with its audit row.
 * The id of that row, or null when the intent was settled already (nothing written).
 */
export async function settleUnsuccessful(
  tx: StoreTx,
  intent: DisconnectIntent,
  status: keyof typeof AUDITED_AS,
  o: { now: number; detail?: string | null; durationMs?: number | null },
): Promise<string | null> {
  const auditEventId = newAuditEventId();
  if (!(await tx.intents.settle(intent.id, { status, settledAt: o.now, settledAuditEventId: auditEventId })))
    return null;
  const { outcome, errorCode } = AUDITED_AS[status];
  await tx.audit.append(
    settlementAudit(intent, auditEventId, outcome, o.now, {
      errorCode,
      durationMs: o.durationMs ?? null,
      metadata: { disconnect: status, ...(o.detail ? { detail: o.detail.slice(0, 500) } : {}) },
    }),
  );
  return auditEventId;
}

/** A row of the intent's story: its actor and target, `metadata.intentId` tying it to the PENDING row (bounded as every audit row is). */
export function settlementAudit(
  intent: DisconnectIntent,
  id: string,
  outcome: AuditOutcome,
  at: number,
  extra: { errorCode?: string | null; durationMs?: number | null; metadata?: Record<string, unknown> },
): AuditEvent {
  const actor: Actor = {
    tokenId: intent.actorTokenId,
    name: intent.actorName,
    ip: intent.actorIp,
    userAgent: intent.actorUserAgent,
    scopes: [],
    ...(intent.actorRequestId === null ? {} : { requestId: intent.actorRequestId }),
  };
  return {
    ...auditEvent(actor, 'session.disconnect', outcome, {
      // After the intent it settles, even when another replica's clock is behind the one that recorded it.
      at: Math.max(at, intent.createdAt + 1),
      targetSessionId: intent.sessionId,
      targetUserName: intent.userName,
      targetGatewayId: intent.gatewayId,
      reason: intent.reason,
      errorCode: extra.errorCode ?? null,
      durationMs: extra.durationMs ?? null,
      metadata: {
        intentId: intent.id,
        mode: intent.mode,
        message: intent.message,
        blockSeconds: intent.blockSeconds,
        ...extra.metadata,
      },
    }),
    id,
  };
}

/**
 * Sessions a complete snapshot no longer lists: each one with a pending intent ended as that
 * operator's disconnect (at the snapshot's time, the latest it can have happened), unless the daemon
 * restarted, which ended them all (then the intent settles FAILED and the session ends as a
 * restart). Returns the events and the sessions handled here; the caller ends the others.
 */
export async function settleUnlisted(
  tx: StoreTx,
  sessionIds: string[],
  o: { at: number; now: number; restarted: boolean },
): Promise<{ events: SessionEvent[]; sessionIds: Set<string> }> {
  const events: SessionEvent[] = [];
  const handled = new Set<string>();
  for (const intent of await tx.intents.listPendingBySessions(sessionIds)) {
    if (o.restarted) {
      await settleUnsuccessful(tx, intent, 'FAILED', {
        now: o.now,
        detail: 'the daemon restarted before the disconnect was confirmed',
      });
      continue;
    }
    handled.add(intent.sessionId);
    const done = await settleEnded(tx, intent, { at: o.at, now: o.now, confirmedBy: 'DAEMON_REPORT' });
    if (done?.event) events.push(done.event);
  }
  return { events, sessionIds: handled };
}

/** The block a confirmed disconnect with `blockSeconds` leaves, keyed by the session's (verified) user, from when it ended. */
function blockOf(intent: DisconnectIntent, at: number): Block {
  return {
    gatewayId: intent.gatewayId,
    userName: intent.userName,
    until: at + (intent.blockSeconds ?? 0) * 1000,
    blockedAt: at,
    blockedByTokenId: intent.actorTokenId,
    blockedByName: intent.actorName,
    reason: intent.reason,
    message: intent.message,
    sessionId: intent.sessionId,
  };
}
