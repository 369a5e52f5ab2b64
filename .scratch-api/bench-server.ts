import { createServer } from 'node:http';
import { pino } from 'pino';
import { FakeCore } from '../src/api/fake-core.test-support.js';
import { createApiServer } from '../src/api/http-server.js';

const mode = process.argv[2];
const core = new FakeCore();
core.addGateway('gw-1'); core.addGateway('gw-2');
for (let i = 0; i < 200; i++) core.addSession({ userName: `user${i}`, gatewayId: i % 2 ? 'gw-1' : 'gw-2' });
const token = core.addToken('bench', ['admin']);
const logger = pino({ level: 'info' });

if (mode === 'raw') {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      JSON.parse(body);
      const auth = req.headers.authorization ?? '';
      const actor = await core.authenticate(auth.slice(7), { clientIp: req.socket.remoteAddress ?? null, userAgent: null });
      const conn = await core.onlineSessions(actor, { first: 50 });
      const gw = new Map();
      const edges = [];
      for (const e of conn.edges) {
        const s = e.node;
        if (!gw.has(s.gatewayId)) gw.set(s.gatewayId, await core.gateway(actor, s.gatewayId));
        const g = gw.get(s.gatewayId);
        edges.push({ cursor: e.cursor, node: { id: s.id, user: { id: s.userId, name: s.userName }, gateway: g && { id: g.id, name: g.name }, clientAddress: s.clientAddress, virtualAddress: s.virtualAddress, connectedAt: new Date(s.connectedAt).toISOString(), bytesReceived: s.bytesReceived, bytesSent: s.bytesSent } });
      }
      const out = JSON.stringify({ data: { onlineSessions: { edges, pageInfo: { hasNextPage: conn.pageInfo.hasNextPage, endCursor: conn.pageInfo.endCursor } } } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) }).end(out);
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port, token })));
} else {
  const api = createApiServer({ core, logger, jit: mode !== 'nojit' });
  api.listen('127.0.0.1', 0).then((a) => console.log(JSON.stringify({ port: a.port, token })));
}
core.calls.authenticate = { push: () => 0 } as never;
core.calls.onlineSessions = { push: () => 0 } as never;
core.calls.gateway = { push: () => 0 } as never;
