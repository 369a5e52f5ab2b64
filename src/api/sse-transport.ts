/**
 * GraphQL over Server-Sent Events (the `graphql-sse` package, "distinct connections" mode): one
 * `POST /graphql/stream` with `Accept: text/event-stream` per operation, the token in the
 * `Authorization` header (401 before anything runs when it is missing or bad).
 *
 * Each request is counted by both rate limits like an HTTP request (the address's before the token
 * is looked at, so failed authentications count), is one of its token's streams while it is open
 * (TOO_MANY_STREAMS past the cap), and has its body read here with the API's limit, chunked or not,
 * never buffering more. A stream whose token is revoked or expires ends with one last `next` event
 * carrying an UNAUTHENTICATED error, then `complete`. Every error answer carries `extensions.code`.
 * A stream whose client stops reading is closed once STREAM_BUFFER_BYTES wait for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode, ExecutionResult, GraphQLSchema } from 'graphql';
import { createHandler, type Response as SseResponse } from 'graphql-sse';
import type { Logger } from '../domain/logger.js';
import type { CoreApi } from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import { isDomainError } from '../domain/errors.js';
import type { Admission } from './admission.js';
import type { ApiContext } from './context.js';
import { BATCH_REFUSAL, errorResponse, UNPARSABLE_BODY, type ApiErrorCode } from './errors.js';
import { isBatch, readBody } from './request-body.js';
import { REQUEST_ID_HEADER, requestIdOf, type RequestScope } from './request-id.js';
import { operationLabel, resultOutcome, type Metrics } from './metrics.js';
import { ambiguity } from './request-headers.js';
import {
  bearerOf,
  endable,
  formatResult,
  prepareDocument,
  streamEnd,
  subscriptionContext,
  type StreamEnd,
} from './subscription-support.js';

export interface SseTransport {
  /**
   * Serves one request on the stream path; resolves with its status when the stream ends (0: the
   * client went away first). `scope`: the request's id and logger (made here when not given).
   */
  serve(req: IncomingMessage, res: ServerResponse, scope?: RequestScope): Promise<number>;
  /** Ends every open stream (server shutdown). */
  close(): void;
}

/** Codes for graphql-sse's own refusals, which come without one. */
const CODE_BY_STATUS: Record<number, [ApiErrorCode, string]> = {
  400: ['BAD_REQUEST', 'Bad request'],
  404: ['NOT_FOUND', 'Not found'],
  405: ['METHOD_NOT_ALLOWED', 'Use POST'],
  406: ['NOT_ACCEPTABLE', 'Accept text/event-stream'],
  409: ['BAD_REQUEST', 'Conflict'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'Send the request as JSON with Content-Type: application/json'],
};

/**
 * What one stream may hold for a client that does not read, beyond what the kernel's socket buffers
 * take (some MB on Linux) and beyond its largest event: past it the stream is closed and gives back its place among its token's
 * streams. A client that stopped reading cannot be told why; it reconnects like after any cut.
 */
export const STREAM_BUFFER_BYTES = 1024 * 1024;

/** The methods the stream serves: POST, and GET with the operation in the query string (EventSource). */
const STREAM_METHODS = 'GET, POST';

/**
 * Whether an Accept header lets the answer be an event stream: none (like /graphql, no header accepts
 * anything), or one that lists text/event-stream or a wildcard (text or any type) without q=0.
 */
function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== 'text/event-stream' && type !== 'text/*' && type !== '*/*') return false;
    return !params.some((param) => /^q=0(\.0{0,3})?$/.test(param.replace(/\s/g, '')));
  });
}

/** graphql-sse's plain answers with `extensions.code` on every error (its parse errors have none). */
function coded(body: string | null, status: number): string | null {
  const fallback = CODE_BY_STATUS[status];
  if (fallback === undefined || status < 400) return body;
  if (body === null || body === '')
    return JSON.stringify({ errors: [{ message: fallback[1], extensions: { code: fallback[0] } }] });
  try {
    const parsed = JSON.parse(body) as { errors?: { message?: string; extensions?: Record<string, unknown> }[] };
    if (!Array.isArray(parsed.errors)) return body;
    parsed.errors = parsed.errors.map((e) =>
      typeof e.extensions?.code === 'string' ? e : { ...e, extensions: { ...e.extensions, code: fallback[0] } },
    );
    return JSON.stringify(parsed);
  } catch {
    return JSON.stringify({ errors: [{ message: body, extensions: { code: fallback[0] } }] });
  }
}

interface Pending {
  actor: Actor;
  logger: Logger;
  started: number;
  /** The operation's metrics label once its document is prepared. */
  label: string;
  end: StreamEnd;
}

/** What a subscriber receives when the server shuts down: reconnect, possibly elsewhere. */
const GOING_AWAY_RESULT = {
  errors: [
    {
      message: 'The server is shutting down; reconnect to continue',
      extensions: { code: 'SHUTTING_DOWN' satisfies ApiErrorCode },
    },
  ],
};
/** The result, then the end of the stream, in graphql-sse's event format (`event: …\ndata: …\n\n`). */
const GOING_AWAY_EVENTS = `event: next\ndata: ${JSON.stringify(GOING_AWAY_RESULT)}\n\nevent: complete\ndata:\n\n`;

export function createSseTransport(o: {
  schema: GraphQLSchema;
  core: CoreApi;
  logger: Logger;
  admission: Admission;
  bodyLimitBytes: number;
  metrics: Metrics | null;
}): SseTransport {
  const { core, logger, schema, admission, metrics } = o;
  const pending = new WeakMap<IncomingMessage, Pending>();
  const open = new Set<ServerResponse>();
  /** Responses that became event streams (not single results): shutdown ends them in their format. */
  const streams = new WeakSet<ServerResponse>();
  const handler = createHandler<IncomingMessage, undefined, ApiContext>({
    schema,
    authenticate: () => null, // distinct connections only: no reservations, no stream tokens
    onSubscribe: (req, params) => {
      const document = prepareDocument(schema, params.query, params.operationName);
      const p = pending.get(req.raw)!;
      // `data: null` makes it an execution result to graphql-sse, sent in the stream; without it,
      // graphql-sse took the errors for execution arguments and answered 400 "Unable to detect operation AST".
      if (Array.isArray(document)) {
        const errors = formatResult({ errors: document as ExecutionResult['errors'] }, p.logger).errors;
        metrics?.observeOperation('sse', 'invalid', resultOutcome({ errors }), (performance.now() - p.started) / 1000);
        return { data: null, errors };
      }
      p.label = operationLabel({
        document: document as DocumentNode,
        operationName: params.operationName ?? undefined,
      });
      return {
        schema,
        document: document as Exclude<typeof document, readonly unknown[]>,
        operationName: params.operationName,
        variableValues: params.variables,
        contextValue: subscriptionContext(core, pending.get(req.raw)!.actor, pending.get(req.raw)!.logger),
      };
    },
    onOperation: (_ctx, req, _args, result) => {
      const p = pending.get(req.raw)!;
      if (Symbol.asyncIterator in result) {
        metrics?.observeOperation('sse', p.label, 'OK', null);
        return endable(result as AsyncIterable<ExecutionResult>, p.end);
      }
      const formatted = formatResult(result as ExecutionResult, p.logger);
      metrics?.observeOperation('sse', p.label, resultOutcome(formatted), (performance.now() - p.started) / 1000);
      return formatted;
    },
    onNext: (_ctx, req, result) => formatResult(result as ExecutionResult, pending.get(req.raw)?.logger ?? logger),
  });

  function answer(
    res: ServerResponse,
    [body, init]: readonly [string | null, { status: number; headers?: Record<string, string> }],
  ): number {
    const length = body === null ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    res.writeHead(init.status, { ...init.headers, ...length, 'cache-control': 'no-store' }).end(body);
    return init.status;
  }

  /** Writes the response; `gone` is called when the client goes away before the stream ended. */
  async function stream(
    res: ServerResponse,
    [body, init]: SseResponse,
    gone: () => void,
    slow: (bytes: number) => void,
  ): Promise<number> {
    if (body === null || typeof body === 'string') {
      const text = coded(body, init.status);
      const headers: Record<string, string> = { ...init.headers };
      if (text !== body) headers['content-type'] = 'application/json; charset=utf-8';
      return answer(res, [text, { status: init.status, headers }]);
    }
    // graphql-sse says `content-encoding: none` (meant to keep compressing middleware off), which is
    // no content coding at all (RFC 9110, 8.4.1): a proxy or client may refuse the stream or take its
    // bytes for an unknown coding. The stream is sent as it is, with no Content-Encoding; what keeps
    // proxies from holding it back is `cache-control: no-store` and `x-accel-buffering: no` (nginx).
    const { 'content-encoding': _none, ...headers } = init.headers ?? {};
    res.writeHead(init.status, init.statusText, { ...headers, 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    streams.add(res);
    // The generator is waiting for the next event, so its return() would wait too: end the source first.
    const stop = () => {
      gone();
      void body.return(undefined);
    };
    res.once('close', stop);
    try {
      // Every event is handed to the response as it comes (graphql-sse queues what is not taken, without
      // bound): what the client has not read waits in the response's buffer, measured, and a client that
      // is STREAM_BUFFER_BYTES behind (past what the kernel holds, and past the largest event: one
      // result larger than the bound, a big page, still goes whole to a client that reads) when the
      // next event comes is cut, giving back its slot.
      let largest = 0;
      for await (const chunk of body) {
        if (!res.writable) break;
        largest = Math.max(largest, Buffer.byteLength(chunk));
        if (res.writableLength > STREAM_BUFFER_BYTES + largest) {
          slow(res.writableLength);
          gone(); // the source may be waiting for its next event: end it first (see stop)
          res.destroy();
          break;
        }
        res.write(chunk);
      }
    } finally {
      res.off('close', stop);
    }
    // A response whose client went away never calls end's callback: waiting for it would keep the
    // stream counted against its token's cap (and its token watched) for ever.
    if (!res.destroyed && !res.closed) {
      await new Promise<void>((resolve) => {
        res.once('close', resolve);
        res.end(resolve);
      });
    }
    return init.status;
  }

  return {
    async serve(req, res, scope) {
      const started = performance.now();
      const refuse = (
        code: 'RATE_LIMITED' | 'UNAUTHENTICATED' | 'TOO_MANY_STREAMS',
        message: string,
        headers?: Record<string, string>,
      ) => {
        metrics?.countRefusal('sse', code);
        return answer(res, errorResponse(code, message, headers));
      };
      const requestId = scope?.requestId ?? requestIdOf(req.headers[REQUEST_ID_HEADER]);
      const log = scope?.logger ?? logger.child({ requestId });
      if (!res.hasHeader(REQUEST_ID_HEADER)) res.setHeader(REQUEST_ID_HEADER, requestId);
      const ambiguous = ambiguity(req);
      if (ambiguous !== null) return answer(res, errorResponse('BAD_REQUEST', ambiguous));
      const byIp = admission.byIp(req.socket.remoteAddress);
      if (!byIp.ok)
        return refuse('RATE_LIMITED', `Too many requests; retry after ${byIp.retryAfterSeconds} s`, {
          'retry-after': String(byIp.retryAfterSeconds),
        });
      let actor: Actor;
      try {
        actor = await core.authenticate(bearerOf(req.headers.authorization), {
          ip: req.socket.remoteAddress ?? null,
          userAgent: req.headers['user-agent'] ?? null,
          requestId,
        });
      } catch (error) {
        if (isDomainError(error) && error.code === 'UNAUTHENTICATED')
          return refuse('UNAUTHENTICATED', error.message, { 'www-authenticate': 'Bearer' });
        if (isDomainError(error) && error.code === 'STORE_UNAVAILABLE')
          return answer(res, errorResponse('STORE_UNAVAILABLE', error.message, { 'retry-after': '1' }));
        throw error;
      }
      const byToken = admission.byToken(actor.tokenId);
      if (!byToken.ok)
        return refuse('RATE_LIMITED', `Too many requests; retry after ${byToken.retryAfterSeconds} s`, {
          'retry-after': String(byToken.retryAfterSeconds),
        });
      // graphql-sse would take any other method, or a request that does not accept an event stream,
      // for its single-connection mode (not served here) and answer 404 or 415.
      if (req.method !== 'POST' && req.method !== 'GET')
        return answer(
          res,
          errorResponse(
            'METHOD_NOT_ALLOWED',
            'Use POST (or GET with the operation in the query string) with Accept: text/event-stream',
            { allow: STREAM_METHODS },
          ),
        );
      if (!acceptsEventStream(req.headers.accept))
        return answer(
          res,
          errorResponse(
            'NOT_ACCEPTABLE',
            'Accept text/event-stream: /graphql/stream answers only as an event stream (/graphql answers JSON)',
          ),
        );
      let body: (() => Record<PropertyKey, unknown> | string) | null = null;
      if (req.method === 'POST') {
        const read = await readBody(req, o.bodyLimitBytes);
        if (typeof read !== 'string') {
          if (read.code === 'ABORTED') return 0;
          return answer(res, errorResponse(read.code, read.message, read.headers));
        }
        // graphql-sse would answer "Missing query"; say what is wrong, as /graphql does.
        if (isBatch(read)) return answer(res, errorResponse('BAD_REQUEST', BATCH_REFUSAL));
        // Parsed by graphql-sse, once, and only if declared as JSON (any other type is its 415); a body
        // that is not JSON is refused in /graphql's words, not JSON.parse's ("Unexpected end of JSON input").
        // JSON that is no object goes as its text, for graphql-sse to refuse in its own words ("JSON
        // body must be an object", as /graphql says): a parsed string it would parse again.
        body = () => {
          let data: unknown;
          try {
            data = JSON.parse(read);
          } catch {
            throw new Error(UNPARSABLE_BODY);
          }
          return typeof data === 'object' && data !== null ? (data as Record<PropertyKey, unknown>) : read;
        };
      }
      const release = admission.openStream(actor.tokenId);
      if (release === null)
        return refuse(
          'TOO_MANY_STREAMS',
          `At most ${admission.caps.streamsPerToken} streams may be open at once per token`,
        );
      const end = streamEnd();
      const unwatch = core.watchToken(actor, (why) => end.fire(why));
      pending.set(req, { actor, logger: log, end, started, label: 'invalid' });
      open.add(res);
      const closed = metrics?.openStream('sse');
      try {
        const response = await handler({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: {
            get: (key: string) => {
              // Accepted above: an Accept without text/event-stream itself (none, */*) asks for the stream.
              if (key === 'accept') return 'text/event-stream';
              const h = req.headers[key];
              return Array.isArray(h) ? h.join('\n') : h;
            },
          },
          body,
          raw: req,
          context: undefined,
        });
        return await stream(
          res,
          response,
          () => end.gone(),
          (bytes) => {
            metrics?.countRefusal('sse', 'SLOW_READER');
            log.warn({ bufferedBytes: bytes }, 'SSE stream closed: its client stopped reading');
          },
        );
      } finally {
        open.delete(res);
        closed?.();
        unwatch();
        release();
      }
    },
    close() {
      // Going away: an open event stream gets a coded error and its end, so its client knows to
      // reconnect (to another replica); anything else is cut.
      for (const res of open) {
        if (streams.has(res) && res.writable) res.end(GOING_AWAY_EVENTS);
        else res.destroy();
      }
    },
  };
}
