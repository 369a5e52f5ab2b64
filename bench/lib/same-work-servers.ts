/**
 * The same-work disconnect baselines, in their own process (argv: database path, management socket
 * path, token). Both do exactly the durable work of a Switchboard disconnect (same-work.ts), each on
 * its own connection to Switchboard's database file and its own management connection:
 * - raw: a bare `node:http` handler;
 * - mercurius: fastify + mercurius with `jit: 1`, the same mutation.
 * Prints one JSON line `{ raw, mercurius }` with the two URLs once both listen.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import mercurius from 'mercurius';
import SqliteDatabase from 'better-sqlite3';
import type { Actor } from '../../src/domain/actor.js';
import { requestIdOf } from '../../src/api/request-id.js';
import { SameWork } from './same-work.js';

const [dbPath, socketPath, token] = process.argv.slice(2) as [string, string, string];
const bearer = `Bearer ${token}`;
// The token's row, for the actor named in the audit rows (Switchboard reads it per request, cached).
const lookup = new SqliteDatabase(dbPath, { readonly: true });
const tokenRow = lookup.prepare('select id, name from api_tokens order by created_at limit 1').get() as {
  id: string;
  name: string;
};
lookup.close();
const actorOf = (req: IncomingMessage): Actor => ({
  tokenId: tokenRow.id,
  name: tokenRow.name,
  ip: req.socket.remoteAddress ?? null,
  userAgent: req.headers['user-agent'] ?? null,
  requestId: requestIdOf(req.headers['x-request-id']),
  scopes: ['admin'],
});

// ---- raw node:http ----
const rawWork = new SameWork(dbPath, socketPath);
const raw = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    void (async () => {
      if (req.headers.authorization !== bearer) {
        res.writeHead(401).end();
        return;
      }
      const { variables } = JSON.parse(body) as { variables?: Record<string, unknown> };
      const ok = await rawWork.disconnect(actorOf(req), String(variables?.id));
      const text = JSON.stringify(
        ok ? { data: { disconnectBySessionId: true } } : { data: null, errors: [{ message: 'not found' }] },
      );
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(text);
    })();
  });
});
await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', () => resolve()));

// ---- fastify + mercurius (jit) ----
const merWork = new SameWork(dbPath, socketPath);
const schema = `
  type Query { ok: Boolean! }
  type Mutation { disconnectBySessionId(onlineSessionId: String!): Boolean! }
`;
const app = Fastify({ logger: false });
await app.register(mercurius, {
  schema,
  jit: 1,
  resolvers: {
    Query: { ok: () => true },
    Mutation: {
      disconnectBySessionId: async (_root: unknown, args: { onlineSessionId: string }, ctx: unknown) => {
        const { actor } = ctx as { actor: Actor };
        if (!(await merWork.disconnect(actor, args.onlineSessionId))) throw new Error('not found');
        return true;
      },
    },
  },
  context: (request) => {
    if (request.headers.authorization !== bearer) throw new Error('unauthorized');
    return { actor: actorOf(request.raw) };
  },
});
await app.listen({ port: 0, host: '127.0.0.1' });
const rawPort = (raw.address() as AddressInfo).port;
const merPort = (app.server.address() as AddressInfo).port;
process.stdout.write(
  `${JSON.stringify({ raw: `http://127.0.0.1:${rawPort}/graphql`, mercurius: `http://127.0.0.1:${merPort}/graphql` })}\n`,
);
process.on('SIGTERM', () => {
  raw.close();
  void app
    .close()
    .then(() => Promise.all([rawWork.close(), merWork.close()]))
    .then(() => process.exit(0));
});
