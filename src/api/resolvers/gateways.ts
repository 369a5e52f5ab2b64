import type { GatewayStatus } from '../../core/api-types.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

/**
 * Gateway fields are the view's own. `sessionsOnline` is counted only when selected on a gateway
 * reached through a session (`Session.gateway` carries no count); the `gateways` list has it already.
 */
export const gatewayResolvers: ResolverMap = {
  Query: {
    gateways: async (_root: unknown, _args: unknown, ctx: ApiContext) => {
      const list = await ctx.core.gateways(ctx.actor);
      for (const g of list) ctx.sawGateway(g);
      return list;
    },
  },
  Gateway: {
    sessionsOnline: (g: GatewayStatus & { sessionsOnline?: number }, _args: unknown, ctx: ApiContext) =>
      g.sessionsOnline ?? ctx.core.gatewaySessionsOnline(ctx.actor, g.id),
    degradedReason: (g: GatewayStatus) => g.degradedReason ?? null,
    rejectedReports: (g: GatewayStatus) => g.rejectedReports ?? 0,
  },
};
