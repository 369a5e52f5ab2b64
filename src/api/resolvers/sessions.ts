import type { Connection, SessionFilter, SessionHistoryFilter, SessionOrder } from '../../core/api-types.js';
import type { Session } from '../../domain/session.js';
import type { ApiContext } from '../context.js';
import type { PageArgs, ResolverMap } from './resolver-map.js';

export interface OnlineSessionFilterInput {
  userId?: string | null;
  userName?: string | null;
  userNameContains?: string | null;
  address?: string | null;
  gatewayId?: string | null;
  protocol?: string | null;
  clientIp?: string | null;
  /** Milliseconds: the DateTime scalar has parsed it. */
  connectedAfter?: number | null;
  connectedBefore?: number | null;
}

export function sessionFilter(input: OnlineSessionFilterInput | null | undefined): SessionFilter | undefined {
  if (!input) return undefined;
  const filter: SessionFilter = {};
  if (input.userId != null) filter.userId = input.userId;
  if (input.userName != null) filter.userName = input.userName;
  if (input.userNameContains != null) filter.userNameContains = input.userNameContains;
  if (input.address != null) filter.address = input.address;
  if (input.gatewayId != null) filter.gatewayId = input.gatewayId;
  if (input.protocol != null) filter.protocol = input.protocol;
  if (input.clientIp != null) filter.clientIp = input.clientIp;
  if (input.connectedAfter != null) filter.connectedAfter = input.connectedAfter;
  if (input.connectedBefore != null) filter.connectedBefore = input.connectedBefore;
  return filter;
}

export interface SessionHistoryFilterInput {
  userName?: string | null;
  address?: string | null;
  gatewayId?: string | null;
  sessionId?: string | null;
  ended?: boolean | null;
}

/** GraphQL's nulls dropped: an absent field and a null one both mean "any". */
function historyFilter(input: SessionHistoryFilterInput | null | undefined): SessionHistoryFilter {
  const filter: SessionHistoryFilter = {};
  for (const key of ['userName', 'address', 'gatewayId', 'sessionId'] as const) {
    const value = input?.[key];
    if (value != null) filter[key] = value;
  }
  if (input?.ended != null) filter.ended = input.ended;
  return filter;
}

export const sessionResolvers: ResolverMap = {
  Query: {
    onlineSessions: async (
      _root: unknown,
      args: PageArgs & { filter?: OnlineSessionFilterInput | null; orderBy?: SessionOrder | null },
      ctx: ApiContext,
    ) => {
      const listed = await ctx.core.onlineSessions(ctx.actor, {
        first: args.first,
        after: args.after,
        filter: sessionFilter(args.filter),
        order: args.orderBy ?? undefined,
      });
      // Read with the page (PostgreSQL): the sessions' gateway fields need no read of their own.
      if (listed.gateways) ctx.knowGateways(listed.gateways);
      return listed;
    },
    onlineSession: (_root: unknown, args: { id: string }, ctx: ApiContext) =>
      ctx.core.onlineSession(ctx.actor, args.id),
    sessionHistory: (_root: unknown, args: PageArgs & { filter?: SessionHistoryFilterInput | null }, ctx: ApiContext) =>
      ctx.core.sessionHistory(ctx.actor, { first: args.first, after: args.after, filter: historyFilter(args.filter) }),
  },
  SessionConnection: {
    totalCount: (connection: Connection<Session>) => connection.totalCount(),
  },
  Session: {
    user: (s: Session) => ({ id: s.userId, name: s.userName }),
    gateway: (s: Session, _args: unknown, ctx: ApiContext) => ctx.gateway(s.gatewayId),
    // The gateway view is memoised per request, so a page of sessions costs one lookup per gateway.
    confirmed: async (s: Session, _args: unknown, ctx: ApiContext) =>
      s.endedAt !== null || ((await ctx.gateway(s.gatewayId))?.agentConnected ?? false),
    client: (s: Session) => ({ version: s.clientVersion, platform: s.clientPlatform }),
    // A WireGuard adapter reports the peer's public key as the session's common name.
    publicKey: (s: Session) => (s.protocol === 'wireguard' ? s.commonName : null),
    durationSeconds: (s: Session) => ((s.endedAt ?? Date.now()) - s.connectedAt) / 1000,
    endedBy: (s: Session) =>
      s.endedByName === null ? null : { tokenId: s.endedByTokenId, name: s.endedByName, ip: null, userAgent: null },
  },
};
