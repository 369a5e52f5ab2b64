import type { Actor } from '../domain/actor.js';
import type { AuditAction, AuditEvent, AuditOutcome } from '../domain/audit.js';
import { newAuditEventId } from '../domain/ids.js';

/** Builds an AuditEvent from an actor and what happened; the caller appends it in its transaction. */
export function auditEvent(
  actor: Actor,
  action: AuditAction,
  outcome: AuditOutcome,
  detail: Partial<Pick<AuditEvent, 'targetSessionId' | 'targetUserName' | 'targetGatewayId' | 'reason' | 'errorCode' | 'durationMs' | 'metadata'>> & { at: number },
): AuditEvent {
  return {
    id: newAuditEventId(),
    at: detail.at,
    action,
    outcome,
    actorTokenId: actor.tokenId,
    actorName: actor.name,
    actorIp: actor.clientIp,
    actorUserAgent: actor.userAgent,
    targetSessionId: detail.targetSessionId ?? null,
    targetUserName: detail.targetUserName ?? null,
    targetGatewayId: detail.targetGatewayId ?? null,
    reason: detail.reason ?? null,
    errorCode: detail.errorCode ?? null,
    durationMs: detail.durationMs ?? null,
    metadata: detail.metadata ?? {},
  };
}
