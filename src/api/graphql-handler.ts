/**
 * graphql-http's generic handler, wired to our document cache, executor and error mapping. It turns
 * one already-authenticated, already-read request into a response tuple.
 */
import type { IncomingMessage } from 'node:http';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import {
  createHandler,
  type Handler,
  type OperationArgs,
  type RequestParams,
  type Response as HandlerResponse,
} from 'graphql-http';
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
 * The handler, and for the plain case (a POST whose body is a JSON object with well-typed fields)
 * the same steps without graphql-http's own reading of the request: `paramsOf` parses the body once,
 * `operationOf` names the operation if it was prepared before (never parsed here: a bad document is
 * not parsed twice), and `run` prepares and executes it and gives the very answer the handler would.
 */
export type GraphqlHandler = Handler<IncomingMessage, ApiContext> & {
  paramsOf(body: string): RequestParams | null;
  operationOf(params: RequestParams): PreparedOperation | null;
  run(method: string, params: RequestParams, ctx: ApiContext): Promise<HandlerResponse>;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The body's parameters when graphql-http would accept them as they are (a JSON object; `query` a
 * string; `variables` and `extensions` objects, `operationName` a string, each or null/absent), else
 * null: graphql-http then reads the body itself and answers the problem.
 */
function paramsOf(body: string): RequestParams | null {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isRecord(data)) return null;
  const { query, variables, operationName, extensions } = data;
  if (typeof query !== 'string') return null;
  if (variables != null && !isRecord(variables)) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  if (extensions != null && !isRecord(extensions)) return null;
  return data as unknown as RequestParams;
}

export function createGraphqlHandler(options: GraphqlHandlerOptions): GraphqlHandler {
  const { schema } = options;
  const cache = new DocumentCache(schema, [queryLimitsRule(options.limits ?? DEFAULT_LIMITS)], options.cache);
  const execute = createExecutor(schema, options.logger, { jit: options.jit });
  const operationOf = (params: RequestParams): PreparedOperation | null =>
    cache.peek(params.query, params.operationName ?? undefined) ?? null;

  /** Our own parse/validate step, so that a cache hit skips both: the arguments to execute, or the answer. */
  function argsOf(method: string, params: RequestParams, ctx: ApiContext): OperationArgs<ApiContext> | HandlerResponse {
    const prepared = cache.prepare(params.query, params.operationName ?? undefined);
    if (Array.isArray(prepared)) return requestErrorResponse(prepared, ctx.mediaType);
    const operation = prepared as Exclude<typeof prepared, readonly GraphQLError[]>;
    if (operation.kind === 'mutation' && method !== 'POST') {
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
  }

  function answer(ctx: ApiContext, result: Awaited<ReturnType<typeof execute>>): HandlerResponse {
    ctx.outcome = resultOutcome(result);
    return executionResponse(result, ctx.mediaType, ctx.logger);
  }

  const handler = createHandler<IncomingMessage, ApiContext, ApiContext>({
    schema,
    execute,
    onSubscribe: (req, params) => argsOf(req.method, params, req.context),
    onOperation: (req, _args, result) => answer(req.context, result),
    formatError: formatRequestError,
  });

  async function run(method: string, params: RequestParams, ctx: ApiContext): Promise<HandlerResponse> {
    const args = argsOf(method, params, ctx);
    if (!('document' in args)) return args;
    const result = execute(args);
    return answer(ctx, result instanceof Promise ? await result : result);
  }

  return Object.assign(handler, { paramsOf, operationOf, run });
}
