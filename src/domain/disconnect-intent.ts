import type { DisconnectMode } from './session.js';
import { newOrderedId } from './ids.js';

/**
 * Where a disconnect intent stands. PENDING: recorded, the gateway may have been asked, nothing is
 * settled yet. DONE: the session ended as this operator's disconnect. NOT_FOUND: the daemon did not
 * know the session (it had left, or another disconnect ended it). NOT_SENT: the command certainly
 * never reached the daemon. FAILED: still unsettled at the horizon (or the daemon restarted first).
 */
export const INTENT_STATUSES = ['PENDING', 'DONE', 'NOT_FOUND', 'NOT_SENT', 'FAILED'] as const;
export type IntentStatus = (typeof INTENT_STATUSES)[number];

/**
 * One operator's attempt to end one session, written durably BEFORE any gateway is asked, then
 * settled exactly once (a conditional update from PENDING) by whichever comes first: the gateway's
 * reply, the daemon's later report of the end (any replica), or the horizon. At most one intent per
 * session is PENDING at a time. Its settlement appends a row to the audit trail; the intent itself
 * is not an audit row, so the audit trail stays append-only.
 */
export interface DisconnectIntent {
  id: string;
  sessionId: string;
  gatewayId: string;
  userName: string;
  createdAt: number;
  actorTokenId: string | null;
  actorName: string;
  actorIp: string | null;
  actorUserAgent: string | null;
  actorRequestId: string | null;
  reason: string | null;
  /** Shown to the user (kept here so a late settlement announces it too). */
  message: string | null;
  mode: DisconnectMode;
  blockSeconds: number | null;
  status: IntentStatus;
  /** When the caller was answered "not confirmed, may still take effect" (still PENDING then). */
  unconfirmedAt: number | null;
  settledAt: number | null;
  /** The PENDING audit row written with the intent. */
  auditEventId: string;
  /** The audit row that settled it. */
  settledAuditEventId: string | null;
}

/** Ordered, as audit event ids: a bulk inserts its intents in chunks of hundreds. */
export function newIntentId(): string {
  return newOrderedId('disconnectIntent');
}
