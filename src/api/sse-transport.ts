/**
 * GraphQL over Server-Sent Events (the `graphql-sse` package, "distinct connections" mode): one
 * `POST /graphql/stream` with `Accept: text/event-stream` per operation, the token in the
 * `Authorization` header (401 before anything runs when it is missing or bad).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { createHandler } from 'graphql-sse/lib/use/http';
import type { Logger } from 'pino';
import type { CoreApi } from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import { isDomainError } from '../domain/errors.js';
import type { ApiContext } from './context.js';
import { errorResponse } from './errors.js';
import { bearerOf, formatResult, prepareDocument, subscriptionContext } from './subscription-support.js';

const MAX_BODY_BYTES = 256 * 1024;

export interface SseTransport {
  /** Serves one request on the stream path; resolves when the stream ends. */
  serve(req: IncomingMessage, res: ServerResponse): Promise<number>;
  /** Ends every open stream (server shutdown). */
  close(): void;
}

export function createSseTransport(o: { schema: GraphQLSchema; core: CoreApi; logger: Logger }): SseTransport {
  const { core, logger, schema } = o;
  const actors = new WeakMap<IncomingMessage, Actor>();
  const open = new Set<ServerResponse>();
  const handler = createHandler<ApiContext>({
    schema,
    authenticate: () => null, // distinct connections only: no reservations, no stream tokens
    onSubscribe: (req, params) => {
      const document = prepareDocument(schema, params.query);
      if (Array.isArray(document)) return { errors: formatResult({ errors: document as ExecutionResult['errors'] }, logger).errors };
      return {
        schema,
        document: document as Exclude<typeof document, readonly unknown[]>,
        operationName: params.operationName,
        variableValues: params.variables,
        contextValue: subscriptionContext(core, actors.get(req.raw)!, logger),
      };
    },
    onOperation: (_ctx, _req, _args, result) => (Symbol.asyncIterator in result ? undefined : formatResult(result as ExecutionResult, logger)),
    onNext: (_ctx, _req, result) => formatResult(result as ExecutionResult, logger),
  });

  return {
    async serve(req, res) {
      let actor: Actor;
      try {
        actor = await core.authenticate(bearerOf(req.headers.authorization), { clientIp: req.socket.remoteAddress ?? null, userAgent: req.headers['user-agent'] ?? null });
      } catch (error) {
        if (!isDomainError(error) || error.code !== 'UNAUTHENTICATED') throw error;
        const [body, init] = errorResponse('UNAUTHENTICATED', error.message, { 'www-authenticate': 'Bearer' });
        res.writeHead(init.status, init.headers as Record<string, string>).end(body);
        return init.status;
      }
      // A subscription document is small; graphql-sse reads the body whole, so refuse big ones up front.
      if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
        const [body, init] = errorResponse('PAYLOAD_TOO_LARGE', `The request body is larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
        res.writeHead(init.status, init.headers as Record<string, string>).end(body);
        return init.status;
      }
      actors.set(req, actor);
      open.add(res);
      try {
        await handler(req, res);
      } finally {
        open.delete(res);
      }
      return res.statusCode;
    },
    close() {
      for (const res of open) res.destroy();
    },
  };
}
