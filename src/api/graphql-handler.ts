/**
 * graphql-http's generic handler, wired to our document cache, executor and error mapping. It turns
 * one already-authenticated, already-read request into a response tuple.
 */
import type { IncomingMessage } from 'node:http';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createHandler, type Handler } from 'graphql-http';
import type { Logger } from '../domain/logger.js';
import type { ApiContext } from './context.js';
import { DocumentCache, type DocumentCacheOptions, type PreparedOperation } from './document-cache.js';
import { errorResponse, executionResponse, formatRequestError, requestErrorResponse } from './errors.js';
import { createExecutor } from './executor.js';
import { resultOutcome } from './metrics.js';
import { DEFAULT_LIMITS, queryLimitsRule, type QueryLimits } from './limits.js';

export interface GraphqlHandlerOptions {
  schema: GraphQLSchema;
  logger: Logger;
  limits?: QueryLimits;
  cache?: DocumentCacheOptions;
  /** Compile hot operations with graphql-jit (default true). */
  jit?: boolean;
}

/**
 * The handler, and the operation a POST body names if it is valid JSON naming one that was prepared
 * before (never parsed here: a bad document is not parsed twice).
 */
export type GraphqlHandler = Handler<IncomingMessage, ApiContext> & {
  operationOf(body: string): PreparedOperation | null;
};

export function createGraphqlHandler(options: GraphqlHandlerOptions): GraphqlHandler {
  const { schema } = options;
  const cache = new DocumentCache(schema, [queryLimitsRule(options.limits ?? DEFAULT_LIMITS)], options.cache);
  const operationOf = (body: string): PreparedOperation | null => {
    let params: unknown;
    try {
      params = JSON.parse(body);
    } catch {
      return null;
    }
    if (typeof params !== 'object' || params === null) return null;
    const { query, operationName } = params as { query?: unknown; operationName?: unknown };
    if (typeof query !== 'string' || (operationName != null && typeof operationName !== 'string')) return null;
    return cache.peek(query, operationName ?? undefined) ?? null;
  };
  const handler = createHandler<IncomingMessage, ApiContext, ApiContext>({
    schema,
    execute: createExecutor(schema, options.logger, { jit: options.jit }),
    // Our own parse/validate step, so that a cache hit skips both; graphql-http then only executes.
    onSubscribe(req, params) {
      const ctx = req.context;
      const prepared = cache.prepare(params.query, params.operationName ?? undefined);
      if (Array.isArray(prepared)) return requestErrorResponse(prepared, ctx.mediaType);
      const operation = prepared as Exclude<typeof prepared, readonly GraphQLError[]>;
      if (operation.kind === 'mutation' && req.method !== 'POST') {
        return errorResponse('METHOD_NOT_ALLOWED', 'Mutations must be sent with POST', { allow: 'POST' });
      }
      if (operation.kind === 'subscription') {
        return requestErrorResponse(
          [
            new GraphQLError(
              'Subscriptions are not served by POST /graphql: use a WebSocket (graphql-transport-ws) on /graphql, or Server-Sent Events on POST /graphql/stream',
              { extensions: { code: 'BAD_REQUEST' } },
            ),
          ],
          ctx.mediaType,
        );
      }
      ctx.operation = operation;
      return {
        schema,
        document: operation.document,
        operationName: params.operationName,
        variableValues: params.variables,
        contextValue: ctx,
        rootValue: undefined,
      };
    },
    onOperation: (req, _args, result) => {
      req.context.outcome = resultOutcome(result);
      return executionResponse(result, req.context.mediaType, req.context.logger);
    },
    formatError: formatRequestError,
  });
  return Object.assign(handler, { operationOf });
}
