import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

/** `viewer`: the caller's own token, so a client (the console) can show its scopes and hide what it may not do. */
export const viewerResolvers: ResolverMap = {
  Query: {
    viewer: (_root: unknown, _args: unknown, ctx: ApiContext) => ctx.core.whoami(ctx.actor),
  },
};
