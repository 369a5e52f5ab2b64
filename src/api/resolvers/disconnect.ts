import type { DisconnectMode } from '../../domain/session.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';
import { sessionFilter, type OnlineSessionFilterInput } from './sessions.js';

interface DisconnectSessionsInput {
  filter?: OnlineSessionFilterInput | null;
  sessionIds?: string[] | null;
  all?: boolean | null;
  reason?: string | null;
  message?: string | null;
  mode?: DisconnectMode | null;
  blockSeconds?: number | null;
}

interface DisconnectSessionInput {
  sessionId: string;
  reason?: string | null;
  message?: string | null;
  mode?: DisconnectMode | null;
  blockSeconds?: number | null;
}

/** The seed's answer once the disconnect resolved (a settled one); every failure rejects instead. */
const confirmed = () => true;

export const disconnectResolvers: ResolverMap = {
  Mutation: {
    /** The seed's mutation: true once the gateway confirmed; every failure is an error. */
    disconnectBySessionId: (_root: unknown, args: { onlineSessionId: string }, ctx: ApiContext) =>
      ctx.core.disconnect(ctx.actor, args.onlineSessionId, {}).then(confirmed),
    disconnectSession: (_root: unknown, args: { input: DisconnectSessionInput }, ctx: ApiContext) => {
      const { sessionId, reason, message, mode, blockSeconds } = args.input;
      return ctx.core.disconnect(ctx.actor, sessionId, { mode: mode ?? 'HALT', reason, message, blockSeconds });
    },
    disconnectSessions: (_root: unknown, args: { input: DisconnectSessionsInput }, ctx: ApiContext) => {
      const { filter, sessionIds, all, reason, message, mode, blockSeconds } = args.input;
      return ctx.core.disconnectSessions(ctx.actor, {
        filter: sessionFilter(filter),
        sessionIds: sessionIds ?? undefined,
        all: all === true,
        reason,
        message,
        mode: mode ?? 'HALT',
        blockSeconds,
      });
    },
  },
};
