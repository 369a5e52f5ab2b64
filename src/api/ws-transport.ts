/**
 * GraphQL over WebSocket (`graphql-transport-ws`, the `graphql-ws` package) on the API's HTTP server,
 * path /graphql. The token comes in `connection_init`'s payload, as `{ authorization: "Bearer …" }`
 * or `{ token: "…" }`; a missing or bad one closes the socket with 4403.
 *
 * A socket lives long, its token may not: every operation is authorised when it starts, against the
 * token as it is then (revoked, expired, scopes), and counted by the rate limits like an HTTP request.
 * When the token is revoked or expires the socket is closed with 4401 (reason "Token revoked" or
 * "Token expired"). Refusals on the socket as a whole close it with 4429 (reason: the code).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getOperationAST, type GraphQLError, type GraphQLSchema } from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../domain/logger.js';
import type { CoreApi } from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import { isDomainError } from '../domain/errors.js';
import type { Admission } from './admission.js';
import { BATCH_REFUSAL, type ApiErrorCode } from './errors.js';
import { rawRefusal } from './client-errors.js';
import { duplicateAuthorization } from './request-headers.js';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.js';
import { operationLabel, resultOutcome, type Metrics } from './metrics.js';
import { bearerOf, codedError, formatResult, prepareDocument, subscriptionContext } from './subscription-support.js';

const PROTOCOL = 'graphql-transport-ws';

/** The close codes this transport uses besides graphql-ws's own (documented in docs/security.md). */
export const CLOSE_TOKEN_ENDED = 4401;
export const CLOSE_REFUSED = 4429;

/** The longest operation id a socket may use (graphql-ws's clients send UUIDs, 36 characters). */
export const MAX_OPERATION_ID = 128;
/**
 * What the operations running at once on one socket may hold: their ids, documents and variables
 * (characters). A subscription keeps its message for its whole life, so without this 100 operations
 * of 256 KiB each held some 40 MB per socket, 4 GB for one token's 100 sockets.
 */
export const SOCKET_HELD_CHARS = 1024 * 1024;

/**
 * Every socket is pinged this often, and one that has not answered the ping when the next is due is
 * cut (graphql-ws's keep-alive). A client that stops reading answers no ping: its socket, and its
 * place among its token's streams, go within two periods (what it was sent meanwhile waits in the
 * kernel; graphql-ws sends one message at a time and the event hub keeps at most 1 000 events).
 */
export const KEEP_ALIVE_MS = 12_000;

export interface WebSocketTransport {
  /** Closes every socket (server shutdown). */
  close(): void;
}

interface SocketState {
  actor: Actor;
  socket: WebSocket;
  release: () => void;
  /** The connection's request id (its upgrade's); operation n on it is `<id>.<n>`. */
  requestId: string;
  operations: number;
  /** Each running operation, by graphql-ws operation id. */
  ops: Map<string, OperationState>;
  /** The characters the running operations hold (SOCKET_HELD_CHARS at most). */
  held: number;
}

interface OperationState {
  logger: Logger;
  started: number;
  /** Its metrics label once it is known to run (null: refused or not yet prepared). */
  label: string | null;
  /** Whether it is counted already (a query or mutation at its first result, a subscription when it starts). */
  counted: boolean;
  /** Its share of the socket's `held`, taken once it passed the caps (0 when refused by one). */
  size: number;
}

type Ctx = Context<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>;

/** A plain HTTP answer on the upgrade's socket, before any handshake: a coded JSON error. */
function refuseUpgrade(socket: Duplex, status: number, code: ApiErrorCode, message: string, extra = ''): void {
  socket.end(rawRefusal(status, code, message, extra));
}

export function attachWebSocketTransport(o: {
  server: Server;
  schema: GraphQLSchema;
  core: CoreApi;
  logger: Logger;
  path: string;
  admission: Admission;
  metrics: Metrics | null;
}): WebSocketTransport {
  const { core, logger, schema, admission, metrics } = o;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  const sockets = new WeakMap<object, SocketState>();
  /** Each upgrade's request id, from its `x-request-id` or made, echoed in the 101 answer. */
  const upgradeIds = new WeakMap<IncomingMessage, string>();
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    const id = requestIdOf(req.headers[REQUEST_ID_HEADER]);
    upgradeIds.set(req, id);
    headers.push(`${REQUEST_ID_HEADER}: ${id}`);
  });
  /** Counts an operation once: at its first result or error (timed), or when a subscription starts (not timed). */
  const count = (op: OperationState | undefined, outcome: string, timed: boolean) => {
    if (!metrics || !op || op.counted) return;
    op.counted = true;
    metrics.observeOperation(
      'ws',
      op.label ?? 'invalid',
      outcome,
      timed ? (performance.now() - op.started) / 1000 : null,
    );
  };

  o.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!socket.writable) return void socket.destroy(); // refused already (too many connections)
    const q = (req.url ?? '/').indexOf('?');
    const path = q === -1 ? req.url : req.url!.slice(0, q);
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    // node:http hands every request with an Upgrade header here (curl --http2 sends `Upgrade: h2c`
    // on any request): each refusal says what to do instead, coded like every other.
    if (
      String(req.headers.upgrade ?? '')
        .trim()
        .toLowerCase() !== 'websocket'
    )
      return refuseUpgrade(
        socket,
        400,
        'BAD_REQUEST',
        `Only an Upgrade to websocket (on ${o.path}) is served: send the request without an Upgrade header (curl: --http1.1)`,
      );
    if (path !== o.path)
      return refuseUpgrade(socket, 404, 'NOT_FOUND', `No WebSocket endpoint at this path: use ${o.path}`);
    if (!protocols.includes(PROTOCOL))
      return refuseUpgrade(
        socket,
        400,
        'BAD_REQUEST',
        `Use the ${PROTOCOL} subprotocol (Sec-WebSocket-Protocol: ${PROTOCOL}; the graphql-ws client sends it)`,
      );
    if (duplicateAuthorization(req))
      return refuseUpgrade(socket, 400, 'BAD_REQUEST', 'Send one Authorization header, not several');
    // Every connection attempt costs the address one request, before the token is known: guessing
    // tokens over WebSockets is as slow as over HTTP.
    const byIp = admission.byIp(req.socket.remoteAddress);
    if (!byIp.ok) metrics?.countRefusal('ws', 'RATE_LIMITED');
    if (!byIp.ok)
      return refuseUpgrade(
        socket,
        429,
        'RATE_LIMITED',
        `Too many requests; retry after ${byIp.retryAfterSeconds} s`,
        `retry-after: ${byIp.retryAfterSeconds}\r\n`,
      );
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
      // A socket's error is the client's doing (a frame over maxPayload, broken framing): ws has
      // closed it already with the fitting code (1009, 1002). graphql-ws's listener would write it
      // with its stack to stderr by console.error, outside the JSON log, for anyone who can connect.
      // One listener stays: an 'error' with none would throw.
      ws.removeAllListeners('error');
      ws.on('error', (err: Error & { code?: string }) =>
        logger.debug({ code: err.code, reason: err.message }, 'websocket closed: the client sent an invalid frame'),
      );
    });
  });

  /**
   * graphql-ws closes the whole socket (4400 "Invalid message received") on a `subscribe` whose
   * payload is not an object. One that is an array is a batch: it is given a stand-in payload here,
   * which onSubscribe refuses as /graphql and /graphql/stream refuse a batch (BAD_REQUEST,
   * BATCH_REFUSAL), the socket left open.
   */
  const batches = new WeakSet<object>();
  const reviveBatch = (key: string, value: unknown): unknown => {
    if (key !== '' || typeof value !== 'object' || value === null) return value;
    const m = value as { type?: unknown; payload?: unknown };
    if (m.type !== 'subscribe' || !Array.isArray(m.payload)) return value;
    const standIn = { query: '' };
    batches.add(standIn);
    return { ...m, payload: standIn };
  };

  /** An operation has ended: it holds nothing of its socket any more. */
  const forget = (state: SocketState | undefined, id: string) => {
    const op = state?.ops.get(id);
    if (op === undefined) return;
    state!.held -= op.size;
    state!.ops.delete(id);
  };

  /** Closes the socket after what is queued on it (an error message) has been written. */
  const closeSoon = (ws: WebSocket, code: number, reason: string) => setImmediate(() => ws.close(code, reason));

  useServer(
    {
      schema,
      jsonMessageReviver: reviveBatch,
      onConnect: async (ctx: Ctx) => {
        const payload = ctx.connectionParams ?? {};
        const token =
          typeof payload.token === 'string' ? payload.token : bearerOf(payload.authorization ?? payload.Authorization);
        const { request: req, socket } = ctx.extra;
        const requestId = upgradeIds.get(req) ?? requestIdOf(undefined);
        let actor: Actor;
        try {
          actor = await core.authenticate(token, {
            ip: req.socket.remoteAddress ?? null,
            userAgent: req.headers['user-agent'] ?? null,
            requestId,
          });
        } catch {
          metrics?.countRefusal('ws', 'UNAUTHENTICATED');
          return false; // graphql-ws closes with 4403 Forbidden
        }
        const refuse = (reason: 'RATE_LIMITED' | 'TOO_MANY_STREAMS') => {
          metrics?.countRefusal('ws', reason);
          socket.close(CLOSE_REFUSED, reason);
          return false; // graphql-ws's own close comes second and is ignored
        };
        if (!admission.byToken(actor.tokenId).ok) return refuse('RATE_LIMITED');
        const release = admission.openStream(actor.tokenId);
        if (release === null) return refuse('TOO_MANY_STREAMS');
        const unwatch = core.watchToken(actor, (end) =>
          socket.close(CLOSE_TOKEN_ENDED, end === 'revoked' ? 'Token revoked' : 'Token expired'),
        );
        const closed = metrics?.openStream('ws');
        sockets.set(ctx, {
          actor,
          socket,
          release: () => (release(), unwatch(), closed?.()),
          requestId,
          operations: 0,
          ops: new Map(),
          held: 0,
        });
        return true;
      },
      onClose: (ctx: Ctx) => {
        sockets.get(ctx)?.release();
        sockets.delete(ctx);
      },
      onSubscribe: async (ctx: Ctx, id, payload) => {
        const state = sockets.get(ctx)!;
        // Each operation is a request of its own: its id is the client's `extensions.requestId`
        // when sane, else the connection's id and the operation's number on it.
        const requestId = requestIdOf(payload.extensions?.requestId, `${state.requestId}.${++state.operations}`);
        const log = logger.child({ requestId });
        const op: OperationState = { logger: log, started: performance.now(), label: null, counted: false, size: 0 };
        state.ops.set(id, op);
        if (id.length > MAX_OPERATION_ID) {
          op.counted = true;
          return [codedError('BAD_REQUEST', `An operation id is at most ${MAX_OPERATION_ID} characters`)];
        }
        if (batches.has(payload)) {
          op.counted = true;
          return [codedError('BAD_REQUEST', BATCH_REFUSAL)];
        }
        // graphql-ws has registered this operation already: it counts itself.
        if (Object.keys(ctx.subscriptions).length > admission.caps.subscriptionsPerSocket) {
          op.counted = true;
          metrics?.countRefusal('ws', 'TOO_MANY_SUBSCRIPTIONS');
          return [
            codedError(
              'TOO_MANY_SUBSCRIPTIONS',
              `At most ${admission.caps.subscriptionsPerSocket} operations may run at once on one socket`,
            ),
          ];
        }
        const size =
          id.length + payload.query.length + (payload.variables ? JSON.stringify(payload.variables).length : 0);
        if (state.held + size > SOCKET_HELD_CHARS) {
          op.counted = true;
          metrics?.countRefusal('ws', 'TOO_MANY_SUBSCRIPTIONS');
          return [
            codedError(
              'TOO_MANY_SUBSCRIPTIONS',
              `The operations running at once on one socket may hold at most ${SOCKET_HELD_CHARS / 1024} KiB of documents, variables and ids`,
            ),
          ];
        }
        // Taken now, before anything is awaited: operations sent at once cannot all pass the check.
        // Every end gives it back (onComplete, onError: a refusal from here on is an error).
        op.size = size;
        state.held += size;
        const limited = [
          admission.byIp(ctx.extra.request.socket.remoteAddress),
          admission.byToken(state.actor.tokenId),
        ].find((d) => !d.ok);
        if (limited !== undefined && !limited.ok) {
          op.counted = true;
          metrics?.countRefusal('ws', 'RATE_LIMITED');
          return [
            codedError('RATE_LIMITED', `Too many requests; retry after ${limited.retryAfterSeconds} s`, {
              retryAfterSeconds: limited.retryAfterSeconds,
            }),
          ];
        }
        const document = prepareDocument(schema, payload.query, payload.operationName);
        if (Array.isArray(document)) return document as GraphQLError[];
        const prepared = document as Exclude<typeof document, readonly unknown[]>;
        const kind = getOperationAST(prepared, payload.operationName)?.operation;
        const mutation = kind === 'mutation';
        op.label = operationLabel({ document: prepared, operationName: payload.operationName ?? undefined });
        let actor: Actor;
        try {
          actor = await core.authorize({ ...state.actor, requestId }, { fresh: mutation });
        } catch (error) {
          if (isDomainError(error) && error.code === 'UNAUTHENTICATED') {
            closeSoon(state.socket, CLOSE_TOKEN_ENDED, 'Token revoked or expired');
            return [codedError('UNAUTHENTICATED', error.message)];
          }
          if (isDomainError(error) && error.code === 'STORE_UNAVAILABLE')
            return [codedError('STORE_UNAVAILABLE', error.message)];
          throw error;
        }
        if (kind === 'subscription') count(op, 'OK', false);
        return {
          schema,
          document: prepared,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: subscriptionContext(core, actor, log),
        };
      },
      onNext: (ctx: Ctx, id, _payload, _args, result) => {
        const op = sockets.get(ctx)?.ops.get(id);
        const formatted = formatResult(result, op?.logger ?? logger);
        count(op, resultOutcome(formatted), true);
        return formatted;
      },
      onComplete: (ctx: Ctx, id) => forget(sockets.get(ctx), id),
      // graphql-ws's own refusals (no such operation in the document) are the client's mistake; a
      // stream whose source threw is coded as the API codes anything else.
      onError: (ctx: Ctx, id, _payload, errors) => {
        const op = sockets.get(ctx)?.ops.get(id);
        forget(sockets.get(ctx), id);
        const formatted = errors
          .map((e) =>
            e.originalError === undefined && typeof e.extensions.code !== 'string'
              ? codedError('BAD_REQUEST', e.message)
              : e,
          )
          .map((e) => formatResult({ errors: [e] }, op?.logger ?? logger).errors![0]!.toJSON());
        count(op, resultOutcome({ errors: formatted }), true);
        return formatted;
      },
    },
    wss,
    KEEP_ALIVE_MS,
  );

  return {
    close() {
      // 1001 Going Away: the client may reconnect (to another replica). A socket that does not
      // complete the closing handshake within a second is cut.
      for (const ws of wss.clients) {
        ws.close(1001, 'server shutting down');
        setTimeout(() => ws.terminate(), 1000).unref();
      }
      wss.close();
    },
  };
}
