import { DomainError } from '../../domain/errors.js';
import { isScope, SCOPES, type Scope } from '../../domain/scopes.js';
import { parseDuration } from '../../domain/token.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

interface CreateTokenInput {
  name: string;
  scopes: string[];
  expiresIn?: string | null;
}

function scopesOf(values: string[]): Scope[] {
  const bad = values.filter((v) => !isScope(v));
  if (bad.length > 0)
    throw new DomainError('BAD_USER_INPUT', `unknown scope ${bad.join(', ')}; scopes are ${SCOPES.join(', ')}`);
  return values as Scope[];
}

function lifetimeOf(expiresIn: string | null | undefined): number | null {
  if (expiresIn == null) return null;
  const ms = parseDuration(expiresIn);
  if (ms === null) throw new DomainError('BAD_USER_INPUT', 'expiresIn must be a duration such as 30d, 12h, 15m or 45s');
  return ms;
}

/** Token fields are the ApiToken's own (the schema does not expose its secret hash). */
export const tokenResolvers: ResolverMap = {
  Query: {
    tokens: (_root: unknown, _args: unknown, ctx: ApiContext) => ctx.core.listTokens(ctx.actor),
  },
  Mutation: {
    createToken: (_root: unknown, args: { input: CreateTokenInput }, ctx: ApiContext) =>
      ctx.core.createToken(ctx.actor, {
        name: args.input.name,
        scopes: scopesOf(args.input.scopes),
        expiresInMs: lifetimeOf(args.input.expiresIn),
      }),
    revokeToken: (_root: unknown, args: { id: string; force?: boolean | null }, ctx: ApiContext) =>
      ctx.core.revokeToken(ctx.actor, args.id, { force: args.force === true }),
  },
};
