import type { Block, BlockFilter } from '../../core/api-types.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

export const blockResolvers: ResolverMap = {
  Query: {
    blocks: (_root: unknown, args: { filter?: BlockFilter | null }, ctx: ApiContext) =>
      ctx.core.blocks(ctx.actor, args.filter ?? {}),
  },
  Mutation: {
    liftBlock: (
      _root: unknown,
      args: { input: { gatewayId: string; userName: string; reason?: string | null } },
      ctx: ApiContext,
    ) => ctx.core.liftBlock(ctx.actor, args.input),
  },
  Block: {
    gateway: (b: Block, _args: unknown, ctx: ApiContext) => ctx.gateway(b.gatewayId),
    blockedBy: (b: Block) => b.blockedByName,
  },
};
