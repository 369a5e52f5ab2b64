import type { ApiContext } from '../context.js';

/**
 * A field resolver as the files in this folder write it. `never` parameters let each resolver name
 * its own source and argument types; the schema builder attaches them as graphql's resolvers.
 */
export type Resolver = (source: never, args: never, context: ApiContext) => unknown;

/** Type name → field name → resolver. */
export type ResolverMap = Record<string, Record<string, Resolver>>;

/** Relay paging arguments, as GraphQL coerced them (defaults applied by the schema). */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
}
