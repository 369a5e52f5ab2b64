/**
 * What the server writes to its log: one debug line per request, and never a token, whatever the
 * request (good token, bad token, token in a variable, internal failure).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestServer, toReply } from './test-server.test-support.js';

describe('request logging', () => {
  it('writes one debug line per request and never a token or the Authorization header', async () => {
    const server = await startTestServer();
    try {
      const unknown = 'sbt_zzzzzzzz_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz';
      const reader = server.core.addToken('reader', ['sessions:read']);
      const s = server.core.addSession();
      let requests = 0;
      const count = <T>(p: Promise<T>) => {
        requests += 1;
        return p;
      };
      await count(server.gql({ query: '{ gateways { id } }' }));
      await count(server.gql({ query: '{ gateways { id } }' }, { token: unknown }));
      await count(
        server.gql({ query: `mutation { disconnectBySessionId(onlineSessionId: "${s.id}") }` }, { token: reader }),
      );
      await count(
        server.gql({ query: 'mutation ($n: String!) { revokeToken(id: $n) { id } }', variables: { n: reader } }),
      );
      await count(
        server.gql({ query: 'mutation { createToken(input: { name: "new", scopes: ["admin"] }) { secret } }' }),
      );
      await count(
        fetch(`${server.url}/graphql?query=${encodeURIComponent('{ gateways { id } }')}&token=${reader}`, {
          headers: { authorization: `Bearer ${server.admin}` },
        }).then(toReply),
      );
      server.core.explode = new Error('store failed');
      await count(server.gql({ query: '{ onlineSessions { totalCount } }' }));
      await count(server.gql('{ not json', { token: reader }));

      const log = server.logs.join('\n');
      const created = server.core.calls.authenticate.map((c) => c.bearer).filter((b): b is string => b !== null);
      for (const secret of [server.admin, reader, unknown, ...created]) {
        assert.equal(log.includes(secret), false, 'a token secret reached the log');
        assert.equal(log.includes(secret.slice(13)), false, 'part of a token secret reached the log');
      }
      assert.doesNotMatch(log, /authorization/i);
      assert.doesNotMatch(log, /Bearer/);
      const lines = server.logs.map(
        (l) => JSON.parse(l) as { level: number; msg: string; path?: string; status?: number },
      );
      const requestLines = lines.filter((l) => l.msg === 'request');
      assert.equal(requestLines.length, requests);
      assert.ok(requestLines.every((l) => l.level === 20 && l.path === '/graphql' && typeof l.status === 'number'));
      assert.deepEqual(
        requestLines.map((l) => l.status),
        [200, 401, 403, 400, 200, 200, 500, 400],
      );
    } finally {
      await server.close();
    }
  });
});
