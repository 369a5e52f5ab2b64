/**
 * The throughput baselines, in their own process (argv: database path, management socket path, token):
 * - raw: a bare `node:http` handler answering the same two operations from memory (the practical
 *   limit): the page of 50 sessions built per request from an in-memory sorted array, the disconnect
 *   as a Map lookup plus the `client-kill` round trip on its own management connection;
 * - mercurius: fastify + mercurius with `jit: 1`, the same schema subset and the same store (the
 *   Switchboard database file, read through the same store code), the disconnect as a store lookup
 *   plus the `client-kill` round trip.
 * Served by baseline-http.ts, which prints the two URLs once both listen.
 */
import { GraphQLScalarType } from 'graphql';
import { openStore } from '../../src/store/kysely/kysely-store.js';
import { serveBaselines, type GraphqlBody } from './baseline-http.js';
import { ManagementLink } from './management-link.js';
import type { Session } from '../../src/domain/session.js';

const [dbPath, socketPath, token] = process.argv.slice(2) as [string, string, string];
// Not the writer of this file (Switchboard's process is), so its read cache would not be
// exact here: off. The baseline reads the database through the same store code.
const store = await openStore(dbPath, { cacheReads: false });
const bearer = `Bearer ${token}`;

const cidOf = (s: Session): number => Number(s.ref.split(':')[1]);
const gateways = new Map((await store.gateways.list()).map((g) => [g.id, g]));
const gatewayView = (id: string) => {
  const g = gateways.get(id);
  return g
    ? {
        id: g.id,
        name: g.name,
        region: g.region,
        protocol: g.protocol,
        mode: g.mode,
        agentConnected: true,
        lastSeenAt: g.lastSeenAt,
      }
    : null;
};
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const cursor = (s: Session) => Buffer.from(`v1:${s.connectedAt}:${s.id}`).toString('base64url');
const node = (s: Session) => ({
  id: s.id,
  user: { id: s.userId, name: s.userName },
  gateway: gatewayView(s.gatewayId),
  protocol: s.protocol,
  clientAddress: s.clientAddress,
  virtualAddress: s.virtualAddress,
  virtualAddress6: s.virtualAddress6,
  connectedAt: iso(s.connectedAt),
  bytesReceived: s.bytesReceived,
  bytesSent: s.bytesSent,
  lastSeenAt: iso(s.lastSeenAt),
  confirmed: true,
  client: { version: s.clientVersion, platform: s.clientPlatform },
  endedAt: iso(s.endedAt),
  endCause: s.endCause,
  endedBy: null,
  endReason: s.endReason,
});

// ---- raw node:http, from memory ----
const all: Session[] = [];
for (const g of gateways.keys()) all.push(...(await store.sessions.listOnlineByGateway(g)));
all.sort((a, b) => b.connectedAt - a.connectedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
const byId = new Map(all.map((s) => [s.id, s]));
const rawLink = new ManagementLink(socketPath);
const rawAnswer = async ({ query, variables }: GraphqlBody): Promise<unknown> => {
  if (query.includes('disconnectBySessionId')) {
    const s = byId.get(String(variables?.id));
    if (!s || !(await rawLink.kill(cidOf(s)))) return null;
    byId.delete(s.id);
    return { disconnectBySessionId: true };
  }
  const first = Number(variables?.first ?? 50);
  const rows = all.slice(0, first + 1);
  const page = rows.slice(0, first);
  return {
    onlineSessions: {
      edges: page.map((s) => ({ cursor: cursor(s), node: node(s) })),
      pageInfo: {
        hasNextPage: rows.length > first,
        hasPreviousPage: false,
        startCursor: page[0] ? cursor(page[0]) : null,
        endCursor: page.at(-1) ? cursor(page.at(-1)!) : null,
      },
    },
  };
};

// ---- fastify + mercurius (jit), over the same store ----
const schema = `
  scalar DateTime
  type Query { onlineSessions(first: Int = 50, after: String): SessionConnection! }
  type Mutation { disconnectBySessionId(onlineSessionId: String!): Boolean! }
  type User { id: ID! name: String! }
  type SessionClient { version: String platform: String }
  type Actor { tokenId: String name: String! ip: String userAgent: String }
  type Gateway { id: ID! name: String! region: String! protocol: String! mode: String! agentConnected: Boolean! lastSeenAt: DateTime }
  type Session { id: ID! user: User! gateway: Gateway protocol: String! clientAddress: String virtualAddress: String virtualAddress6: String
    connectedAt: DateTime! bytesReceived: Float! bytesSent: Float! lastSeenAt: DateTime! confirmed: Boolean! client: SessionClient!
    endedAt: DateTime endCause: String endedBy: Actor endReason: String }
  type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
  type SessionEdge { cursor: String! node: Session! }
  type SessionConnection { edges: [SessionEdge!]! pageInfo: PageInfo! }
`;
type Ctx = { gateways?: Map<string, Promise<unknown>> };
const merLink = new ManagementLink(socketPath);
await serveBaselines({
  bearer,
  raw: rawAnswer,
  mercurius: {
    schema,
    resolvers: {
      DateTime: new GraphQLScalarType({ name: 'DateTime', serialize: (v) => new Date(v as number).toISOString() }),
      Query: {
        onlineSessions: async (_root: unknown, args: { first: number }) => {
          const page = await store.sessions.listOnline({ first: args.first });
          return {
            edges: page.rows.map((s) => ({ cursor: cursor(s), node: s })),
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: false,
              startCursor: page.rows[0] ? cursor(page.rows[0]) : null,
              endCursor: page.rows.at(-1) ? cursor(page.rows.at(-1)!) : null,
            },
          };
        },
      },
      Mutation: {
        disconnectBySessionId: async (_root: unknown, args: { onlineSessionId: string }) => {
          const s = await store.sessions.findOnline(args.onlineSessionId);
          if (!s || !(await merLink.kill(cidOf(s)))) throw new Error('not found');
          return true;
        },
      },
      Session: {
        user: (s: Session) => ({ id: s.userId, name: s.userName }),
        gateway: (s: Session, _a: unknown, context: unknown) => {
          const ctx = context as Ctx;
          ctx.gateways ??= new Map();
          let g = ctx.gateways.get(s.gatewayId);
          if (!g) {
            g = store.gateways.findById(s.gatewayId).then((row) => (row ? { ...row, agentConnected: true } : null));
            ctx.gateways.set(s.gatewayId, g);
          }
          return g;
        },
        confirmed: () => true,
        client: (s: Session) => ({ version: s.clientVersion, platform: s.clientPlatform }),
        endedBy: () => null,
      },
    },
  },
  close: () => store.close(),
});
