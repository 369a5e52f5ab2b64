/**
 * GraphQL over WebSocket (`graphql-transport-ws`, the `graphql-ws` package) on the API's HTTP server,
 * path /graphql. The token comes in `connection_init`'s payload, as `{ authorization: "Bearer …" }`
 * or `{ token: "…" }`; a missing or bad one closes the socket with 4403.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { CoreApi } from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import { bearerOf, formatResult, prepareDocument, subscriptionContext } from './subscription-support.js';

const PROTOCOL = 'graphql-transport-ws';

export interface WebSocketTransport {
  /** Closes every socket (server shutdown). */
  close(): void;
}

export function attachWebSocketTransport(o: { server: Server; schema: GraphQLSchema; core: CoreApi; logger: Logger; path: string }): WebSocketTransport {
  const { core, logger, schema } = o;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  const actors = new WeakMap<object, Actor>();

  o.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const q = (req.url ?? '/').indexOf('?');
    const path = q === -1 ? req.url : req.url!.slice(0, q);
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (path !== o.path || !protocols.includes(PROTOCOL)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  useServer(
    {
      schema,
      onConnect: async (ctx) => {
        const payload = ctx.connectionParams ?? {};
        const token = typeof payload.token === 'string' ? payload.token : bearerOf(payload.authorization ?? payload.Authorization);
        const req = ctx.extra.request;
        try {
          actors.set(ctx, await core.authenticate(token, { clientIp: req.socket.remoteAddress ?? null, userAgent: req.headers['user-agent'] ?? null }));
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onSubscribe: (ctx, _id, payload) => {
        const document = prepareDocument(schema, payload.query);
        if (Array.isArray(document)) return document;
        return {
          schema,
          document: document as Exclude<typeof document, readonly unknown[]>,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: subscriptionContext(core, actors.get(ctx)!, logger),
        };
      },
      onNext: (_ctx, _id, _payload, _args, result) => formatResult(result, logger),
    },
    wss,
  );

  return {
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
