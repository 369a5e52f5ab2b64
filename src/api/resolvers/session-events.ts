import type { SessionEvent, SessionEventFilter } from '../../core/api-types.js';
import type { ApiContext } from '../context.js';
import { eventTypeOfGraphql, graphqlEventType } from './event-type-names.js';
import type { ResolverMap } from './resolver-map.js';

interface SessionEventFilterInput {
  gatewayId?: string | null;
  userName?: string | null;
  types?: string[] | null;
}

function eventFilter(input: SessionEventFilterInput | null | undefined): SessionEventFilter {
  const filter: SessionEventFilter = {};
  if (input?.gatewayId != null) filter.gatewayId = input.gatewayId;
  if (input?.userName != null) filter.userName = input.userName;
  if (input?.types != null && input.types.length > 0)
    filter.types = input.types.map(eventTypeOfGraphql) as SessionEvent['type'][];
  return filter;
}

/** The last item of a stream that ended with an error: `resolve` throws it, so it reaches the client as a coded GraphQL error. */
class StreamFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Core ends a stream by rejecting `next()` with a DomainError (BUS_UNAVAILABLE, STORE_UNAVAILABLE).
 * GraphQL transports differ in what they make of a rejected source; an item whose field resolver
 * throws is one ordinary result with `errors[0].extensions.code` on WebSocket and SSE alike, after
 * which the stream completes. Hand-written rather than an async generator, so `return()` (a client
 * leaving) reaches the source at once even while it waits for an event.
 */
function endWithCodedError<T>(source: AsyncIterableIterator<T>): AsyncIterableIterator<T | StreamFailure> {
  let failed = false;
  return {
    async next() {
      if (failed) return { value: undefined, done: true };
      try {
        return await source.next();
      } catch (error) {
        failed = true;
        return { value: new StreamFailure(error), done: false };
      }
    },
    return: () => source.return?.() ?? Promise.resolve({ value: undefined, done: true }),
    throw: (error: unknown) => source.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Subscription root fields: graphql's `subscribe` (the event source) and `resolve` (one event). */
export const subscriptionFields: Record<
  string,
  { subscribe: (root: unknown, args: never, ctx: ApiContext) => unknown; resolve: (event: never) => unknown }
> = {
  sessionEvents: {
    subscribe: (_root: unknown, args: { filter?: SessionEventFilterInput | null }, ctx: ApiContext) =>
      endWithCodedError(ctx.core.sessionEvents(ctx.actor, eventFilter(args.filter))),
    resolve: (event: SessionEvent | StreamFailure) => {
      if (event instanceof StreamFailure) throw event.error;
      return event;
    },
  },
};

export const sessionEventResolvers: ResolverMap = {
  SessionEvent: {
    type: (e: SessionEvent) => graphqlEventType(e.type),
    actor: (e: SessionEvent) =>
      e.actor === null ? null : { tokenId: e.actor.tokenId, name: e.actor.name, ip: null, userAgent: null },
  },
};
