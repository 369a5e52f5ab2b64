export const AUDIT_ACTIONS = [
  'session.disconnect',
  'token.create',
  'token.revoke',
  'session.bulk_disconnect',
  'session.reconnect_blocked',
  'block.lift',
  'webhook.create',
  'webhook.delete',
  /** The gateway file was reloaded (SIGHUP): what was added, removed, changed — or why it was refused. */
  'gateway.reload',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * `REFUSED`: turned down before anything was asked of a gateway (e.g. a block the gateway cannot enforce).
 * `PENDING`: a disconnect was recorded before its gateway was asked; a later row with the same
 * `metadata.intentId` settles it (SUCCESS, NOT_FOUND, GATEWAY_UNAVAILABLE or FAILED).
 */
export const AUDIT_OUTCOMES = [
  'SUCCESS',
  'NOT_FOUND',
  'FORBIDDEN',
  'GATEWAY_UNAVAILABLE',
  'FAILED',
  'REFUSED',
  'PENDING',
] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** An append-only record of one action and its outcome. Never updated, never deleted. */
export interface AuditEvent {
  id: string;
  at: number;
  action: AuditAction;
  outcome: AuditOutcome;
  actorTokenId: string | null;
  actorName: string;
  actorIp: string | null;
  actorUserAgent: string | null;
  /** The request (or WebSocket operation) that acted: the id in its logs and `x-request-id` answer. */
  requestId: string | null;
  targetSessionId: string | null;
  targetUserName: string | null;
  targetGatewayId: string | null;
  reason: string | null;
  errorCode: string | null;
  durationMs: number | null;
  /** Small JSON object with action-specific detail (mode, message, token name…). */
  metadata: Record<string, unknown>;
}
