import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

/** Gateway fields are the GatewayView's own; only the list needs a resolver. */
export const gatewayResolvers: ResolverMap = {
  Query: {
    gateways: (_root: unknown, _args: unknown, ctx: ApiContext) => ctx.core.gateways(ctx.actor),
  },
};
