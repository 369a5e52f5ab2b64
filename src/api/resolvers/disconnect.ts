import type { DisconnectMode } from '../../domain/session.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

interface DisconnectSessionInput {
  sessionId: string;
  reason?: string | null;
  message?: string | null;
  mode?: DisconnectMode | null;
  blockSeconds?: number | null;
}

export const disconnectResolvers: ResolverMap = {
  Mutation: {
    /** The seed's mutation: true once the gateway confirmed; every failure is an error. */
    disconnectBySessionId: async (_root: unknown, args: { onlineSessionId: string }, ctx: ApiContext) => {
      await ctx.core.disconnect(ctx.actor, args.onlineSessionId, {});
      return true;
    },
    disconnectSession: (_root: unknown, args: { input: DisconnectSessionInput }, ctx: ApiContext) => {
      const { sessionId, reason, message, mode, blockSeconds } = args.input;
      return ctx.core.disconnect(ctx.actor, sessionId, { mode: mode ?? 'HALT', reason, message, blockSeconds });
    },
  },
};
