import type { SessionEvent, SessionEventFilter } from '../../core/api-types.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

type EventTypeName = 'SESSION_CONNECTED' | 'SESSION_DISCONNECTED';

interface SessionEventFilterInput {
  gatewayId?: string | null;
  userName?: string | null;
  types?: EventTypeName[] | null;
}

const TYPE_NAMES: Record<SessionEvent['type'], EventTypeName> = {
  'session.connected': 'SESSION_CONNECTED',
  'session.disconnected': 'SESSION_DISCONNECTED',
};
const TYPES: Record<EventTypeName, SessionEvent['type']> = {
  SESSION_CONNECTED: 'session.connected',
  SESSION_DISCONNECTED: 'session.disconnected',
};

function eventFilter(input: SessionEventFilterInput | null | undefined): SessionEventFilter {
  const filter: SessionEventFilter = {};
  if (input?.gatewayId != null) filter.gatewayId = input.gatewayId;
  if (input?.userName != null) filter.userName = input.userName;
  if (input?.types != null && input.types.length > 0) filter.types = input.types.map((t) => TYPES[t]);
  return filter;
}

/** Subscription root fields: graphql's `subscribe` (the event source) and `resolve` (one event). */
export const subscriptionFields: Record<string, { subscribe: (root: unknown, args: never, ctx: ApiContext) => unknown; resolve: (event: never) => unknown }> = {
  sessionEvents: {
    subscribe: (_root: unknown, args: { filter?: SessionEventFilterInput | null }, ctx: ApiContext) => ctx.core.sessionEvents(ctx.actor, eventFilter(args.filter)),
    resolve: (event: SessionEvent) => event,
  },
};

export const sessionEventResolvers: ResolverMap = {
  SessionEvent: {
    type: (e: SessionEvent) => TYPE_NAMES[e.type],
    actor: (e: SessionEvent) => (e.actor === null ? null : { tokenId: e.actor.tokenId, name: e.actor.name, ip: null, userAgent: null }),
  },
};
