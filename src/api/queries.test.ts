/**
 * Queries and the richer mutations through the real server: field mapping, paging, filters, error
 * statuses, per-request gateway lookups, and graphql-jit giving the same bytes as graphql-js.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FakeCore } from './fake-core.test-support.js';
import { startTestServer, type Reply, type TestServer } from './test-server.test-support.js';

const SESSION_FIELDS = `id user { id name } gateway { id name region protocol } protocol clientAddress virtualAddress virtualAddress6
  connectedAt bytesReceived bytesSent lastSeenAt client { version platform } endedAt endCause endedBy { tokenId name } endReason`;

function codes(reply: Reply): string[] {
  return ((reply.json as { errors?: { extensions: { code: string } }[] }).errors ?? []).map((e) => e.extensions.code);
}

function data<T>(reply: Reply): T {
  assert.equal(reply.status, 200, reply.text);
  assert.equal((reply.json as { errors?: unknown }).errors, undefined, reply.text);
  return (reply.json as { data: T }).data;
}

describe('queries and mutations', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());
  beforeEach(() => {
    server.core.sessions.clear();
    server.core.gatewayRows.clear();
    server.core.calls.gateway.length = 0;
    server.core.calls.gatewayBatches.length = 0;
    server.core.calls.onlineSessions.length = 0;
    server.core.explode = null;
  });

  it('onlineSessions maps every session field (ISO times, byte counters past 2^31 as Float)', async () => {
    server.core.addGateway('gw-1', { name: 'Paris', region: 'eu-west-3' });
    const s = server.core.addSession({ userName: 'bob', bytesReceived: 5_000_000_000 });
    const d = data<{ onlineSessions: { totalCount: number; edges: { node: Record<string, unknown> }[] } }>(
      await server.gql({ query: `{ onlineSessions { totalCount edges { node { ${SESSION_FIELDS} } } } }` }),
    );
    assert.equal(d.onlineSessions.totalCount, 1);
    assert.deepEqual(d.onlineSessions.edges[0]!.node, {
      id: s.id,
      user: { id: s.userId, name: 'bob' },
      gateway: { id: 'gw-1', name: 'Paris', region: 'eu-west-3', protocol: 'openvpn' },
      protocol: 'openvpn',
      clientAddress: '203.0.113.7:51234',
      virtualAddress: '10.8.0.6',
      virtualAddress6: null,
      connectedAt: new Date(s.connectedAt).toISOString(),
      bytesReceived: 5_000_000_000,
      bytesSent: 1234,
      lastSeenAt: '2024-05-01T12:00:00.000Z',
      client: { version: '2.6.9', platform: 'linux' },
      endedAt: null,
      endCause: null,
      endedBy: null,
      endReason: null,
    });
  });

  it('pages newest first with opaque cursors; first defaults to 50', async () => {
    for (let i = 0; i < 5; i++) server.core.addSession();
    const query =
      'query ($first: Int, $after: String) { onlineSessions(first: $first, after: $after) { edges { cursor node { id connectedAt } } pageInfo { hasNextPage endCursor } } }';
    type Page = {
      onlineSessions: {
        edges: { cursor: string; node: { id: string; connectedAt: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    };
    const one = data<Page>(await server.gql({ query, variables: { first: 3 } }));
    assert.equal(one.onlineSessions.edges.length, 3);
    assert.equal(one.onlineSessions.pageInfo.hasNextPage, true);
    const two = data<Page>(
      await server.gql({ query, variables: { first: 3, after: one.onlineSessions.pageInfo.endCursor } }),
    );
    assert.equal(two.onlineSessions.edges.length, 2);
    assert.equal(two.onlineSessions.pageInfo.hasNextPage, false);
    const times = [...one.onlineSessions.edges, ...two.onlineSessions.edges].map((e) => Date.parse(e.node.connectedAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
    );
    await server.gql({ query: '{ onlineSessions { totalCount } }' });
    assert.equal(server.core.calls.onlineSessions.at(-1)!.first, 50);
  });

  it('maps filters to core, DateTime strings to milliseconds', async () => {
    const filter = {
      userId: 'usr_1',
      userName: 'bob',
      gatewayId: 'gw-1',
      protocol: 'openvpn',
      clientIp: '203.0.113.7',
      connectedAfter: '2024-05-01T10:00:00Z',
      connectedBefore: '2024-05-01T13:00:00+01:00',
    };
    await server.gql({
      query: 'query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }',
      variables: { f: filter },
    });
    assert.deepEqual(server.core.calls.onlineSessions.at(-1)!.filter, {
      ...filter,
      connectedAfter: Date.parse('2024-05-01T10:00:00Z'),
      connectedBefore: Date.parse('2024-05-01T12:00:00Z'),
    });
  });

  it('totalCount is computed only when asked for', async () => {
    server.core.addSession();
    const before = server.core.calls.totalCount;
    await server.gql({ query: '{ onlineSessions { edges { cursor } } }' });
    assert.equal(server.core.calls.totalCount, before);
    await server.gql({ query: '{ onlineSessions { totalCount } }' });
    assert.equal(server.core.calls.totalCount, before + 1);
  });

  it('a bad cursor is 400 BAD_CURSOR; first=501 is 400 BAD_USER_INPUT', async () => {
    const bad = await server.gql({ query: '{ onlineSessions(after: "not-a-cursor") { totalCount } }' });
    assert.equal(bad.status, 400);
    assert.deepEqual(codes(bad), ['BAD_CURSOR']);
    assert.equal((bad.json as { data: unknown }).data, null);
    const big = await server.gql({ query: '{ onlineSessions(first: 501) { totalCount } }' });
    assert.equal(big.status, 400);
    assert.deepEqual(codes(big), ['BAD_USER_INPUT']);
  });

  it('errors of different codes with data null are 200; partial results are 200', async () => {
    const auditor = server.core.addToken('auditor', ['audit:read']);
    const mixed = await server.gql(
      { query: '{ onlineSession(id: "sess_aaaaaaaaaaaa") { id } auditEvents(first: 501) { edges { cursor } } }' },
      { token: auditor },
    );
    assert.equal((mixed.json as { data: unknown }).data, null);
    assert.deepEqual(codes(mixed).sort(), ['BAD_USER_INPUT', 'FORBIDDEN']);
    assert.equal(mixed.status, 200);
    const partial = await server.gql(
      { query: '{ auditEvents { edges { cursor } } onlineSession(id: "sess_aaaaaaaaaaaa") { id } }' },
      { token: auditor },
    );
    assert.equal(partial.status, 200);
    assert.deepEqual(codes(partial), ['FORBIDDEN']);
    assert.deepEqual((partial.json as { data: unknown }).data, { auditEvents: { edges: [] }, onlineSession: null });
  });

  it('reads the gateways of a page once, in one call, however many sessions are on them', async () => {
    for (const id of ['gw-1', 'gw-2', 'gw-3']) server.core.addGateway(id);
    for (let i = 0; i < 500; i++) server.core.addSession({ gatewayId: `gw-${(i % 3) + 1}` });
    const d = data<{ onlineSessions: { edges: { node: { gateway: { id: string } | null } }[] } }>(
      await server.gql({
        query: '{ onlineSessions(first: 500) { edges { node { id confirmed gateway { id name } } } } }',
      }),
    );
    assert.equal(d.onlineSessions.edges.length, 500);
    assert.deepEqual(
      server.core.calls.gatewayBatches.map((ids) => [...ids].sort()),
      [['gw-1', 'gw-2', 'gw-3']],
    );
    assert.deepEqual(new Set(d.onlineSessions.edges.map((e) => e.node.gateway?.id)), new Set(['gw-1', 'gw-2', 'gw-3']));
  });

  it('a page whose session names a gateway not in the store shows it as null', async () => {
    server.core.addGateway('gw-1');
    server.core.addSession({ gatewayId: 'gw-1' });
    server.core.addSession({ gatewayId: 'gw-gone' });
    const d = data<{ onlineSessions: { edges: { node: { gateway: { id: string } | null } }[] } }>(
      await server.gql({ query: '{ onlineSessions(first: 10) { edges { node { gateway { id } } } } }' }),
    );
    assert.deepEqual(d.onlineSessions.edges.map((e) => e.node.gateway?.id ?? null).sort(), ['gw-1', null]);
  });

  it('onlineSession returns the session, or null', async () => {
    const s = server.core.addSession();
    assert.deepEqual(data(await server.gql({ query: `{ onlineSession(id: "${s.id}") { id } }` })), {
      onlineSession: { id: s.id },
    });
    assert.deepEqual(data(await server.gql({ query: '{ onlineSession(id: "sess_zzzzzzzzzzzz") { id } }' })), {
      onlineSession: null,
    });
  });

  it('gateways lists every field', async () => {
    server.core.addGateway('gw-1', { sessionsOnline: 3, lastSeenAt: null, agentConnected: false, mode: 'authorize' });
    assert.deepEqual(
      data(
        await server.gql({
          query: '{ gateways { id name region protocol mode agentConnected lastSeenAt sessionsOnline } }',
        }),
      ),
      {
        gateways: [
          {
            id: 'gw-1',
            name: 'Gateway gw-1',
            region: 'eu-west',
            protocol: 'openvpn',
            mode: 'authorize',
            agentConnected: false,
            lastSeenAt: null,
            sessionsOnline: 3,
          },
        ],
      },
    );
  });

  it('disconnectSession passes reason, message, mode and blockSeconds; returns session, outcome and audit id', async () => {
    const s = server.core.addSession();
    const reply = await server.gql({
      query:
        'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome auditEventId session { id endedAt endCause endedBy { name } endReason } } }',
      variables: {
        in: { sessionId: s.id, reason: 'stolen laptop', message: 'Call IT', mode: 'RESTART', blockSeconds: 60 },
      },
    });
    const d = data<{ disconnectSession: { outcome: string; auditEventId: string; session: Record<string, unknown> } }>(
      reply,
    );
    assert.deepEqual(server.core.calls.disconnect.at(-1), {
      sessionId: s.id,
      options: { mode: 'RESTART', reason: 'stolen laptop', message: 'Call IT', blockSeconds: 60 },
    });
    assert.equal(d.disconnectSession.outcome, 'DISCONNECTED');
    assert.equal(d.disconnectSession.auditEventId, server.core.audit.at(-1)!.id);
    assert.deepEqual(d.disconnectSession.session, {
      id: s.id,
      endedAt: '2024-05-01T12:00:00.000Z',
      endCause: 'ADMIN_DISCONNECT',
      endedBy: { name: 'test admin' },
      endReason: 'stolen laptop',
    });
    const halted = server.core.addSession();
    await server.gql({ query: `mutation { disconnectSession(input: { sessionId: "${halted.id}" }) { outcome } }` });
    assert.equal(server.core.calls.disconnect.at(-1)!.options.mode, 'HALT');
  });

  it('auditEvents maps actor, target and metadata, and filters', async () => {
    const s = server.core.addSession({ userName: 'carol' });
    await server.gql(
      { query: `mutation { disconnectSession(input: { sessionId: "${s.id}", reason: "r" }) { outcome } }` },
      { headers: { 'user-agent': 'ops-cli/2' } },
    );
    const reply = await server.gql({
      query: `{ auditEvents(filter: { action: "session.disconnect", outcome: SUCCESS, targetSessionId: "${s.id}", since: "2024-01-01T00:00:00Z" }) {
        edges { node { id at action outcome actor { tokenId name ip userAgent } target { sessionId userName gatewayId } reason errorCode durationMs metadata } } } }`,
    });
    const d = data<{ auditEvents: { edges: { node: Record<string, unknown> }[] } }>(reply);
    const event = server.core.audit.at(-1)!;
    assert.deepEqual(
      d.auditEvents.edges.map((e) => e.node),
      [
        {
          id: event.id,
          at: '2024-05-01T12:00:00.000Z',
          action: 'session.disconnect',
          outcome: 'SUCCESS',
          actor: { tokenId: event.actorTokenId, name: 'test admin', ip: '127.0.0.1', userAgent: 'ops-cli/2' },
          target: { sessionId: s.id, userName: 'carol', gatewayId: 'gw-1' },
          reason: 'r',
          errorCode: null,
          durationMs: 12,
          metadata: JSON.stringify({ mode: 'HALT', message: null }),
        },
      ],
    );
    assert.deepEqual(server.core.calls.auditEvents.at(-1)!.filter, {
      action: 'session.disconnect',
      outcome: 'SUCCESS',
      targetSessionId: s.id,
      since: Date.parse('2024-01-01T00:00:00Z'),
    });
    const badAction = await server.gql({
      query: '{ auditEvents(filter: { action: "drop.tables" }) { edges { cursor } } }',
    });
    assert.equal(badAction.status, 400);
    assert.deepEqual(codes(badAction), ['BAD_USER_INPUT']);
  });

  it('creates, lists and revokes tokens; the new secret authenticates, the revoked one does not', async () => {
    const created = data<{
      createToken: {
        secret: string;
        token: { id: string; name: string; prefix: string; scopes: string[]; expiresAt: string };
      };
    }>(
      await server.gql({
        query:
          'mutation { createToken(input: { name: "ci", scopes: ["sessions:read"], expiresIn: "30d" }) { secret token { id name prefix scopes createdAt expiresAt } } }',
      }),
    );
    const { secret, token } = created.createToken;
    assert.equal(token.name, 'ci');
    assert.deepEqual(token.scopes, ['sessions:read']);
    assert.equal(token.prefix, secret.slice(0, 12));
    assert.equal(token.expiresAt, new Date(server.core.now + 30 * 86_400_000).toISOString());
    assert.equal((await server.gql({ query: '{ gateways { id } }' }, { token: secret })).status, 200);
    const list = data<{ tokens: { id: string }[] }>(await server.gql({ query: '{ tokens { id name revokedAt } }' }));
    assert.ok(list.tokens.some((t) => t.id === token.id));
    data(await server.gql({ query: `mutation { revokeToken(id: "${token.id}") { id revokedAt } }` }));
    assert.equal((await server.gql({ query: '{ gateways { id } }' }, { token: secret })).status, 401);
    const again = await server.gql({ query: `mutation { revokeToken(id: "${token.id}") { id } }` });
    assert.equal(again.status, 400);
    assert.deepEqual(codes(again), ['TOKEN_NOT_FOUND']);
    const badScope = await server.gql({
      query: 'mutation { createToken(input: { name: "x", scopes: ["root"] }) { secret } }',
    });
    assert.deepEqual([badScope.status, codes(badScope)], [400, ['BAD_USER_INPUT']]);
    const badLifetime = await server.gql({
      query: 'mutation { createToken(input: { name: "x", scopes: ["admin"], expiresIn: "soon" }) { secret } }',
    });
    assert.deepEqual([badLifetime.status, codes(badLifetime)], [400, ['BAD_USER_INPUT']]);
    const reader = server.core.addToken('reader', ['sessions:read']);
    const forbidden = await server.gql({ query: '{ tokens { id } }' }, { token: reader });
    assert.deepEqual([forbidden.status, codes(forbidden)], [403, ['FORBIDDEN']]);
  });

  it('masks unexpected failures as 500 INTERNAL and logs them', async () => {
    server.core.explode = new Error('connect ECONNREFUSED db.internal:5432');
    const reply = await server.gql({ query: '{ onlineSessions { totalCount } }' });
    assert.equal(reply.status, 500);
    assert.deepEqual(codes(reply), ['INTERNAL']);
    assert.equal((reply.json as { errors: { message: string }[] }).errors[0]!.message, 'Internal server error');
    assert.doesNotMatch(reply.text, /ECONNREFUSED/);
    assert.ok(server.logs.some((l) => l.includes('ECONNREFUSED') && l.includes('"level":50')));
  });
});

describe('graphql-jit and graphql-js give the same bytes', () => {
  it('for a page of sessions, a partial result and errors', async () => {
    const core = new FakeCore();
    core.addGateway('gw-1');
    for (let i = 0; i < 20; i++) core.addSession({ userName: `u${i}`, gatewayId: i % 2 ? 'gw-1' : 'gw-gone' });
    const jit = await startTestServer({ core, jit: true });
    const plain = await startTestServer({ core, jit: false });
    try {
      const bodies = [
        {
          query: `query Page($n: Int) { onlineSessions(first: $n) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${SESSION_FIELDS} } } } }`,
          variables: { n: 20 },
        },
        { query: '{ gateways { id sessionsOnline lastSeenAt } onlineSession(id: "sess_zzzzzzzzzzzz") { id } }' },
        { query: '{ onlineSessions(after: "bad") { totalCount } }' },
      ];
      for (const body of bodies) {
        const expected = await plain.gql(body, { token: plain.admin });
        for (let run = 0; run < 3; run++) {
          const got = await jit.gql(body, { token: jit.admin });
          assert.equal(got.status, expected.status, `${body.query} run ${run}`);
          assert.equal(got.text, expected.text, `${body.query} run ${run}`);
        }
      }
      // Variables that do not coerce: graphql-jit words the message differently; code and status agree.
      const coercion = { query: 'query ($n: Int) { onlineSessions(first: $n) { totalCount } }', variables: { n: 'x' } };
      const expected = await plain.gql(coercion, { token: plain.admin });
      for (let run = 0; run < 3; run++) {
        const got = await jit.gql(coercion, { token: jit.admin });
        assert.deepEqual([got.status, codes(got)], [expected.status, codes(expected)]);
      }
      const compiled = jit.logs.filter(
        (l) => l.includes('"msg":"graphql-jit compile"') && l.includes('"compiled":true'),
      );
      assert.equal(compiled.length, bodies.length + 1);
      assert.equal(plain.logs.filter((l) => l.includes('graphql-jit compile')).length, 0);
    } finally {
      await jit.close();
      await plain.close();
    }
  });
});
