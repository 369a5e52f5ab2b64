/**
 * The API over node:http: `POST|GET /graphql` (GraphQL over HTTP, bearer token required),
 * `GET /healthz` (liveness: the process serves HTTP) and `GET /readyz` (readiness: store, migrations, bus, deployment
 * and bus; no token, so load balancers can probe it). Authentication happens once per request, before
 * the body is read or anything runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { answerClientErrors, SERVED_METHODS } from './client-errors.js';
import type { AddressInfo, Socket } from 'node:net';
import type { Response as HandlerResponse } from 'graphql-http';
import { lazyChild, type Logger } from '../domain/logger.js';
import type { CoreApi } from '../core/api-types.js';
import type { ReadinessReport } from '../core/readiness.js';
import type { Actor } from '../domain/actor.js';
import { isDomainError } from '../domain/errors.js';
import { createContext, responseMediaType } from './context.js';
import { createMetrics, operationLabel, outcomeLabel, type Metrics } from './metrics.js';
import { bearerOf } from './subscription-support.js';
import { BATCH_REFUSAL, errorBody, errorResponse, INTERNAL_MESSAGE, type ApiErrorCode } from './errors.js';
import { buildApiSchema } from './executable-schema.js';
import { Admission, DEFAULT_CAPS, type ConnectionCaps } from './admission.js';
import { createGraphqlHandler } from './graphql-handler.js';
import { isBatch, readBody } from './request-body.js';
import { isCacheableRead, ResponseCache, type CachedResponse, type Made } from './response-cache.js';
import { REQUEST_ID_HEADER, requestIdOf, type RequestScope } from './request-id.js';
import { ambiguity, duplicateAuthorization } from './request-headers.js';
import type { RateLimit } from './rate-limit.js';
import { createStaticHandler, defaultUiDir } from './static-files.js';
import { createSseTransport } from './sse-transport.js';
import { attachWebSocketTransport } from './ws-transport.js';

export interface ApiServerOptions {
  core: CoreApi;
  logger: Logger;
  /** Largest accepted request body (default 1 MiB); larger ones get 413 PAYLOAD_TOO_LARGE. */
  bodyLimitBytes?: number;
  /** Compile hot operations with graphql-jit (default true). */
  jit?: boolean;
  /** Requests per API token (default 200/s, burst 400); `ratePerSecond: 0` turns it off. */
  rateLimitPerToken?: RateLimit;
  /** Requests per client IP, authenticated or not (default 1000/s, burst 2000); 0 turns it off. */
  rateLimitPerIp?: RateLimit;
  /** Caps on sockets, streams and connections (defaults: DEFAULT_CAPS). */
  caps?: Partial<ConnectionCaps>;
  /** The built operator console served at `/` (default: dist/ui, if built); null serves none. */
  uiDir?: string | null;
  /**
   * `GET /metrics`: `token` (default) serves it to any valid API token (give Prometheus a
   * `sessions:read` one), `open` to anyone who reaches the port, `off` not at all.
   */
  metrics?: 'token' | 'open' | 'off';
  /** Answers `GET /readyz` (see core/readiness.ts). Without it the server has nothing to check and is ready. */
  readiness?: () => Promise<ReadinessReport>;
}

/** Defaults of the two rate limits (also those of the configuration). */
export const DEFAULT_RATE_LIMITS = {
  perToken: { ratePerSecond: 200, burst: 400 },
  perIp: { ratePerSecond: 1000, burst: 2000 },
} as const satisfies Record<string, RateLimit>;

export interface ApiServer {
  server: Server;
  /** The request listener (also usable with another server). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every live subscription (WebSocket and SSE); call before closing the server. */
  closeStreams(): void;
  /**
   * Graceful stop: accepts nothing new, tells WebSocket and SSE clients the server is going away,
   * lets requests in flight (disconnects included) finish within `deadlineMs`, then cuts what is left.
   * Resolves once no connection remains.
   */
  drain(deadlineMs: number): Promise<void>;
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<AddressInfo>;
}

const HEALTH_BODY = JSON.stringify({ status: 'ok' });
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The key of a request's answer (response-cache.ts): everything of the request graphql-http reads
 * (method POST, URL, Accept, Content-Type, the body byte for byte) and the caller's scopes.
 */
function answerKey(req: IncomingMessage, actor: Actor, body: string): string | null {
  if (req.method !== 'POST') return null;
  const h = req.headers;
  return `${actor.scopes.join(' ')}\n${req.url}\n${h.accept ?? ''}\n${h['content-type'] ?? ''}\n${body}`;
}

/**
 * Headers with which graphql-http reads a POST as JSON and answers in the media type
 * `responseMediaType` gives: such a request is run without it (`GraphqlHandler.run`).
 */
const PLAIN_CONTENT_TYPES: ReadonlySet<string | undefined> = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
]);
const PLAIN_ACCEPTS: ReadonlySet<string | undefined> = new Set([
  undefined,
  '',
  '*/*',
  'application/json',
  'application/graphql-response+json',
  'application/graphql-response+json, application/json',
]);

/** Bodies for the answers graphql-http gives without one. */
const BODYLESS: Record<number, [ApiErrorCode, string]> = {
  405: ['METHOD_NOT_ALLOWED', 'Use GET (queries only) or POST'],
  406: ['NOT_ACCEPTABLE', 'Accept application/graphql-response+json or application/json'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'Send the request as JSON with Content-Type: application/json'],
};

function send(res: ServerResponse, [body, init]: HandlerResponse): number {
  res.statusCode = init.status;
  // Answers carry token secrets (createToken), sessions and audit rows: no cache may keep them.
  res.setHeader('cache-control', 'no-store');
  const headers = init.headers;
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
  let text = body;
  if (text === null && BODYLESS[init.status] !== undefined) {
    const [code, message] = BODYLESS[init.status]!;
    text = errorBody(code, message);
    res.setHeader('content-type', JSON_TYPE);
  }
  if (text === null) {
    res.end();
  } else {
    res.setHeader('content-length', Buffer.byteLength(text));
    res.end(text);
  }
  return init.status;
}

/** A kept answer, with the same status, headers and bytes as `send` gave it the first time. */
function sendKept(res: ServerResponse, kept: CachedResponse): number {
  res.statusCode = kept.status;
  res.setHeader('cache-control', 'no-store');
  for (const name in kept.headers) res.setHeader(name, kept.headers[name]!);
  res.setHeader('content-length', kept.body.length);
  res.end(kept.body);
  return kept.status;
}

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { logger } = options;
  const metricsAccess = options.metrics ?? 'token';
  const metrics: Metrics | null =
    metricsAccess === 'off' ? null : createMetrics({ readiness: options.readiness, core: () => core });
  // Every transport calls the same core; with metrics on, its disconnects are timed by gateway and outcome.
  const core: CoreApi = metrics ? metrics.instrument(options.core) : options.core;
  const bodyLimit = options.bodyLimitBytes ?? 1024 * 1024;
  const schema = buildApiSchema();
  const graphql = createGraphqlHandler({ schema, logger, jit: options.jit });
  const admission = new Admission(
    {
      perToken: options.rateLimitPerToken ?? DEFAULT_RATE_LIMITS.perToken,
      perIp: options.rateLimitPerIp ?? DEFAULT_RATE_LIMITS.perIp,
    },
    { ...DEFAULT_CAPS, ...options.caps },
  );
  const sse = createSseTransport({ schema, core, logger, admission, bodyLimitBytes: bodyLimit, metrics });
  const answers = new ResponseCache();
  const serveConsole = createStaticHandler(options.uiDir === undefined ? defaultUiDir() : options.uiDir);

  function rateLimited(res: ServerResponse, retryAfterSeconds: number): number {
    metrics?.countRefusal('http', 'RATE_LIMITED');
    return send(
      res,
      errorResponse('RATE_LIMITED', `Too many requests; retry after ${retryAfterSeconds} s`, {
        'retry-after': String(retryAfterSeconds),
      }),
    );
  }

  async function serveGraphql(req: IncomingMessage, res: ServerResponse, r: RequestScope): Promise<number> {
    const ambiguous = ambiguity(req);
    if (ambiguous !== null) return send(res, errorResponse('BAD_REQUEST', ambiguous));
    // The IP's bucket first, before the token is even looked at: guessing tokens costs requests too.
    const byIp = admission.byIp(req.socket.remoteAddress);
    if (!byIp.ok) return rateLimited(res, byIp.retryAfterSeconds);
    let actor: Actor;
    try {
      const userAgent = req.headers['user-agent'] ?? null;
      actor = await core.authenticate(bearerOf(req.headers.authorization), {
        ip: req.socket.remoteAddress ?? null,
        userAgent,
        requestId: r.requestId,
      });
    } catch (error) {
      if (isDomainError(error) && error.code === 'UNAUTHENTICATED') {
        metrics?.countRefusal('http', 'UNAUTHENTICATED');
        return send(res, errorResponse('UNAUTHENTICATED', error.message, { 'www-authenticate': 'Bearer' }));
      }
      if (isDomainError(error) && error.code === 'STORE_UNAVAILABLE')
        return send(res, errorResponse('STORE_UNAVAILABLE', error.message, { 'retry-after': '1' }));
      throw error;
    }
    const byToken = admission.byToken(actor.tokenId);
    if (!byToken.ok) return rateLimited(res, byToken.retryAfterSeconds);
    let body: string | null = null;
    if (req.method === 'POST') {
      // Most bodies have all arrived by now: then the text comes at once, not as a promise.
      let read = readBody(req, bodyLimit);
      if (read instanceof Promise) read = await read;
      if (typeof read !== 'string') {
        if (read.code === 'ABORTED') return 0; // nobody to answer
        return send(res, errorResponse(read.code, read.message, read.headers));
      }
      body = read;
      // graphql-http would answer "Missing query"; say what is wrong.
      if (isBatch(body)) return send(res, errorResponse('BAD_REQUEST', BATCH_REFUSAL));
    }
    const started = metrics ? performance.now() : 0;
    // The body parsed once, for the kept answers and for execution (null: graphql-http reads it).
    const params = body === null ? null : graphql.paramsOf(body);
    const operation = params === null ? null : graphql.operationOf(params);
    // A repeated read whose answer is kept (response-cache.ts): authenticated, rate limited and
    // read like any other request above, then answered with the kept bytes. An operation prepared
    // before whose answers are never kept (a mutation) has none to look for.
    const key =
      body === null || (operation !== null && !isCacheableRead(operation)) ? null : answerKey(req, actor, body);
    const version = key === null ? null : core.readVersion();
    let made: Made | null = null;
    if (version !== null) {
      const found = answers.find(key!, version);
      const kept = found instanceof Promise ? await found : found;
      if (kept) {
        metrics?.countKeptAnswer(kept.label);
        metrics?.observeOperation('http', kept.label, 'OK', (performance.now() - started) / 1000);
        return sendKept(res, kept);
      }
      // Only a read that may be kept is made once for all: identical mutations each run.
      if (found === undefined && operation !== null && isCacheableRead(operation)) made = answers.making(key!, version);
    }
    const context = createContext(core, actor, r.logger, responseMediaType(req.headers.accept));
    let response: HandlerResponse;
    try {
      // The plain case skips graphql-http's reading of the request: the same answer, byte for byte.
      response =
        params !== null && PLAIN_CONTENT_TYPES.has(req.headers['content-type']) && PLAIN_ACCEPTS.has(req.headers.accept)
          ? await graphql.run('POST', params, context)
          : await graphql({
              // HEAD is answered as GET (node:http sends no body for it).
              method: req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'),
              url: req.url ?? '/',
              headers: req.headers,
              body,
              raw: req,
              context,
            });
    } catch (error) {
      made?.(null, null);
      throw error;
    }
    const label = operationLabel(context.operation);
    // The body is scanned for an error code only when the result had errors (a page is 30 KB or more).
    const outcome = context.outcome === 'OK' ? 'OK' : outcomeLabel(response[0]);
    if (made !== null) {
      const [text, init] = response;
      const keep =
        outcome === 'OK' &&
        init.status === 200 &&
        text !== null &&
        context.operation !== null &&
        isCacheableRead(context.operation);
      made(
        keep
          ? {
              body: Buffer.from(text),
              status: init.status,
              headers: { ...(init.headers as Record<string, string> | undefined) },
              label,
              validUntil: context.liveUntil,
            }
          : null,
        core.readVersion(),
      );
    }
    metrics?.observeOperation('http', label, outcome, (performance.now() - started) / 1000);
    return send(res, response);
  }

  async function serveMetrics(req: IncomingMessage, res: ServerResponse, m: Metrics): Promise<number> {
    if (metricsAccess === 'token') {
      // A token check like any other: one Authorization header, and guesses cost the address requests.
      if (duplicateAuthorization(req))
        return send(res, errorResponse('BAD_REQUEST', 'Send one Authorization header, not several'));
      const byIp = admission.byIp(req.socket.remoteAddress);
      if (!byIp.ok) return rateLimited(res, byIp.retryAfterSeconds);
      try {
        await core.authenticate(bearerOf(req.headers.authorization), {
          ip: req.socket.remoteAddress ?? null,
          userAgent: req.headers['user-agent'] ?? null,
        });
      } catch (error) {
        if (isDomainError(error) && error.code === 'UNAUTHENTICATED')
          return send(res, errorResponse('UNAUTHENTICATED', error.message, { 'www-authenticate': 'Bearer' }));
        throw error;
      }
    }
    return m.serve(req, res);
  }

  async function serveReadiness(res: ServerResponse): Promise<number> {
    const report = options.readiness ? await options.readiness() : { ready: true, failed: [], checks: {} };
    const body = JSON.stringify({
      status: report.ready ? 'ready' : 'not ready',
      failed: report.failed,
      checks: report.checks,
    });
    // A probe must see the state of now, never a cached answer.
    const headers = { 'content-type': JSON_TYPE, 'cache-control': 'no-store' };
    return send(res, [
      body,
      report.ready
        ? { status: 200, statusText: 'OK', headers }
        : { status: 503, statusText: 'Service Unavailable', headers },
    ]);
  }

  /** The methods each API path serves; a known path asked with another method is 405 with `Allow`. */
  const methodsOf: Record<string, readonly string[]> = {
    '/graphql': ['GET', 'HEAD', 'POST'],
    // An event stream has no head to give without running the operation: GET and POST only.
    '/graphql/stream': ['GET', 'POST'],
    '/healthz': ['GET', 'HEAD'],
    '/readyz': ['GET', 'HEAD'],
    ...(metrics ? { '/metrics': ['GET', 'HEAD'] } : {}),
  };
  const notAllowed = (res: ServerResponse, method: string, path: string, allowed: readonly string[]) =>
    send(
      res,
      errorResponse('METHOD_NOT_ALLOWED', `${method} is not served on ${path}: use ${allowed.join(' or ')}`, {
        allow: allowed.join(', '),
      }),
    );

  function route(req: IncomingMessage, res: ServerResponse, r: RequestScope): Promise<number> | number {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    // The asterisk form asks about the server as a whole, and only with OPTIONS (RFC 9112, 3.2.4):
    // OPTIONS is refused here as on every path (it was 404 "No route for OPTIONS *"), and any other
    // method with it is a malformed request.
    if (url === '*') {
      if (method !== 'OPTIONS')
        return send(res, errorResponse('BAD_REQUEST', `The request target * is only for OPTIONS, not ${method}`));
      return send(
        res,
        errorResponse('METHOD_NOT_ALLOWED', `OPTIONS is not served: use ${SERVED_METHODS} on the API's paths`, {
          allow: SERVED_METHODS,
        }),
      );
    }
    const allowed = Object.hasOwn(methodsOf, path) ? methodsOf[path]! : null;
    // No CORS: a preflight (OPTIONS) is refused like any other method a path does not serve.
    if (allowed !== null && !allowed.includes(method)) return notAllowed(res, method, path, allowed);
    if (path === '/graphql') return serveGraphql(req, res, r);
    if (path === '/graphql/stream') return sse.serve(req, res, r);
    if (path === '/healthz')
      return send(res, [HEALTH_BODY, { status: 200, statusText: 'OK', headers: { 'content-type': JSON_TYPE } }]);
    if (path === '/readyz') return serveReadiness(res);
    if (path === '/metrics' && metrics) return serveMetrics(req, res, metrics);
    const notFound = () => send(res, errorResponse('NOT_FOUND', `No route for ${method} ${path}`));
    // The operator console: its files, and index.html for its routes (GET and HEAD only).
    if (method === 'GET' || method === 'HEAD')
      return serveConsole(req, res, path).then((status) => status ?? notFound());
    return serveConsole
      .serves(path)
      .then((served) => (served ? notAllowed(res, method, path, ['GET', 'HEAD']) : notFound()));
  }

  /** Requests whose response has not finished: a drain waits for them. */
  let inflight = 0;
  let draining = false;
  let settled: (() => void) | null = null;
  const done = () => {
    inflight--;
    if (inflight === 0) settled?.();
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (refused(req.socket)) return void res.destroy();
    // A server must accept the absolute form of the target (RFC 9112, 3.2.2): `GET http://host/healthz`
    // is `GET /healthz` (it was 404 "No route for GET http://host/healthz").
    if (req.url !== undefined && !req.url.startsWith('/')) req.url = originFormOf(req.url);
    inflight++;
    res.once('close', done);
    // While draining, every response closes its connection once sent, so keep-alive sockets go too.
    if (draining) res.setHeader('connection', 'close');
    const requestId = requestIdOf(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // Every answer, JSON and event streams included: no browser may read one as anything else.
    res.setHeader('x-content-type-options', 'nosniff');
    const scope: RequestScope = { requestId, logger: lazyChild(logger, { requestId }) };
    const log = scope.logger;
    const started = logger.isLevelEnabled('debug') ? performance.now() : 0;
    const logLine = (status: number) => {
      if (status === 0) {
        // A client that went away mid-upload: worth a line for whoever debugs, not an error.
        log.debug({ method: req.method }, 'request aborted by the client before its body was read');
        return;
      }
      if (started === 0) return;
      // Never the headers, the query string or the body: they can carry tokens.
      const q = (req.url ?? '/').indexOf('?');
      const path = q === -1 ? req.url : req.url!.slice(0, q);
      log.debug(
        { method: req.method, path, status, ms: Math.round((performance.now() - started) * 10) / 10 },
        'request',
      );
    };
    const fail = (error: unknown) => {
      log.error({ err: error, method: req.method }, 'request failed');
      if (!res.headersSent) logLine(send(res, errorResponse('INTERNAL', INTERNAL_MESSAGE)));
      else res.destroy();
    };
    try {
      const result = route(req, res, scope);
      if (typeof result === 'number') logLine(result);
      else result.then(logLine, fail);
    } catch (error) {
      fail(error);
    }
  }

  const server = createServer(handle);
  answerClientErrors(server);
  const refused = refuseConnectionsOver(server, admission.caps.connections, () =>
    metrics?.countRefusal('http', 'TOO_MANY_CONNECTIONS'),
  );
  // Upgrades never reach `handle`: the plain POST path is unchanged by WebSocket support.
  const ws = attachWebSocketTransport({ server, schema, core, logger, path: '/graphql', admission, metrics });
  return {
    server,
    handle,
    closeStreams() {
      ws.close();
      sse.close();
    },
    async drain(deadlineMs) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      ws.close();
      sse.close();
      if (inflight > 0) {
        const timer = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
        await Promise.race([new Promise<void>((resolve) => (settled = resolve)), timer]);
        if (inflight > 0)
          logger.warn(
            { requests: inflight, deadlineMs },
            'drain deadline passed: cutting the requests still in flight',
          );
      }
      server.closeAllConnections();
      await closed;
    },
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
  };
}

/** `http://host/path?query` as `/path?query`; anything else (`*`, garbage) as it is, for a 404. */
function originFormOf(target: string): string {
  if (!/^https?:\/\//i.test(target)) return target;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return target;
  }
}

/**
 * At most `max` TCP connections at once: one more is answered 503 TOO_MANY_CONNECTIONS and closed
 * (a flood of idle or WebSocket connections cannot exhaust descriptors). Returns the test for a
 * refused socket, whose requests, if any arrive before it closes, must not be served.
 */
function refuseConnectionsOver(server: Server, max: number, onRefusal: () => void): (socket: Socket) => boolean {
  let open = 0;
  const refused = new WeakSet<Socket>();
  const body = errorBody('TOO_MANY_CONNECTIONS', `The server has ${max} connections open; retry later`);
  const refusal = `HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: ${JSON_TYPE}\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nretry-after: 1\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  // Before node:http's own listener, so the count is right before any request of the socket runs.
  server.prependListener('connection', (socket: Socket) => {
    if (open >= max) {
      onRefusal();
      refused.add(socket);
      socket.end(refusal, () => socket.destroy());
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
  return (socket) => refused.has(socket);
}
