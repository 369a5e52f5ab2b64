/** Every audit action and outcome the API records (kept equal to src/domain/audit.ts by test/ui-audit.test.ts). */
export const AUDIT_ACTIONS = [
  'session.disconnect',
  'token.create',
  'token.revoke',
  'session.bulk_disconnect',
  'session.reconnect_blocked',
  'block.lift',
  'webhook.create',
  'webhook.delete',
  'gateway.reload',
] as const;

export const AUDIT_OUTCOMES = [
  'SUCCESS',
  'NOT_FOUND',
  'FORBIDDEN',
  'GATEWAY_UNAVAILABLE',
  'FAILED',
  'REFUSED',
  'PENDING',
] as const;
