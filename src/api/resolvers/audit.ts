import type { AuditFilter, Connection } from '../../core/api-types.js';
import { AUDIT_ACTIONS, type AuditAction, type AuditEvent, type AuditOutcome } from '../../domain/audit.js';
import { DomainError } from '../../domain/errors.js';
import type { ApiContext } from '../context.js';
import type { PageArgs, ResolverMap } from './resolver-map.js';

interface AuditEventFilterInput {
  action?: string | null;
  outcome?: AuditOutcome | null;
  actorTokenId?: string | null;
  requestId?: string | null;
  targetSessionId?: string | null;
  targetUserName?: string | null;
  targetGatewayId?: string | null;
  /** Milliseconds: the DateTime scalar has parsed them. */
  since?: number | null;
  until?: number | null;
}

function isAuditAction(value: string): value is AuditAction {
  return (AUDIT_ACTIONS as readonly string[]).includes(value);
}

function auditFilter(input: AuditEventFilterInput | null | undefined): AuditFilter | undefined {
  if (!input) return undefined;
  const filter: AuditFilter = {};
  if (input.action != null) {
    if (!isAuditAction(input.action))
      throw new DomainError('BAD_USER_INPUT', `action must be one of ${AUDIT_ACTIONS.join(', ')}`);
    filter.action = input.action;
  }
  if (input.outcome != null) filter.outcome = input.outcome;
  if (input.actorTokenId != null) filter.actorTokenId = input.actorTokenId;
  if (input.requestId != null) filter.requestId = input.requestId;
  if (input.targetSessionId != null) filter.targetSessionId = input.targetSessionId;
  if (input.targetUserName != null) filter.targetUserName = input.targetUserName;
  if (input.targetGatewayId != null) filter.targetGatewayId = input.targetGatewayId;
  if (input.since != null) filter.since = input.since;
  if (input.until != null) filter.until = input.until;
  return filter;
}

export const auditResolvers: ResolverMap = {
  Query: {
    auditEvents: (_root: unknown, args: PageArgs & { filter?: AuditEventFilterInput | null }, ctx: ApiContext) =>
      ctx.core.auditEvents(ctx.actor, { first: args.first, after: args.after, filter: auditFilter(args.filter) }),
  },
  AuditEventConnection: {
    totalCount: (connection: Connection<AuditEvent>) => connection.totalCount(),
  },
  AuditEvent: {
    actor: (e: AuditEvent) => ({
      tokenId: e.actorTokenId,
      name: e.actorName,
      ip: e.actorIp,
      userAgent: e.actorUserAgent,
    }),
    target: (e: AuditEvent) => ({
      sessionId: e.targetSessionId,
      userName: e.targetUserName,
      gatewayId: e.targetGatewayId,
    }),
    metadata: (e: AuditEvent) => JSON.stringify(e.metadata ?? {}),
  },
};
