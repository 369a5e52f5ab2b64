/**
 * The same-work disconnect baselines, in their own process (argv: database path, management socket
 * path, token). Both do exactly the durable work of a Switchboard disconnect (same-work.ts), each on
 * its own connection to Switchboard's database file and its own management connection:
 * - raw: a bare `node:http` handler;
 * - mercurius: fastify + mercurius with `jit: 1`, the same mutation.
 * Served by baseline-http.ts, which prints the two URLs once both listen.
 */
import type { IncomingMessage } from 'node:http';
import SqliteDatabase from 'better-sqlite3';
import type { Actor } from '../../src/domain/actor.js';
import { requestIdOf } from '../../src/api/request-id.js';
import { serveBaselines } from './baseline-http.js';
import { SameWork } from './same-work.js';

const [dbPath, socketPath, token] = process.argv.slice(2) as [string, string, string];
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

const rawWork = new SameWork(dbPath, socketPath);
const merWork = new SameWork(dbPath, socketPath);
await serveBaselines({
  bearer: `Bearer ${token}`,
  raw: async ({ variables }, req) =>
    (await rawWork.disconnect(actorOf(req), String(variables?.id))) ? { disconnectBySessionId: true } : null,
  mercurius: {
    schema: `
      type Query { ok: Boolean! }
      type Mutation { disconnectBySessionId(onlineSessionId: String!): Boolean! }
    `,
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
    context: (req) => ({ actor: actorOf(req) }),
  },
  close: () => Promise.all([rawWork.close(), merWork.close()]),
});
