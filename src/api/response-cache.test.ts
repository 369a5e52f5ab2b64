/**
 * Kept answers (response-cache.ts) through the real server over a FakeCore whose read version a test
 * moves by hand: a repeated read is answered without running it, with the same status, headers and
 * bytes; any move of the version, a gateway's liveness bound passing, another set of scopes, a
 * revoked token, a mutation or a replica-only field each make the server run the operation (or
 * refuse the caller) instead. The end-to-end counterpart on both stores is test/kept-answers.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OperationTypeNode, parse } from 'graphql';
import { FakeCore } from './fake-core.test-support.js';
import { isCacheableRead, ResponseCache } from './response-cache.js';
import { startTestServer, type Reply, type TestServer } from './test-server.test-support.js';

const PAGE = {
  query: `query ($first: Int) { onlineSessions(first: $first) { totalCount edges { cursor node { id user { name }
    gateway { id name agentConnected daemonResponding lastSeenAt } confirmed bytesReceived connectedAt } }
    pageInfo { hasNextPage endCursor } } }`,
  variables: { first: 2 },
};

/** The headers an answer is made of (the request id and date differ per request by design). */
function sameAnswer(a: Reply, b: Reply): void {
  assert.equal(a.status, b.status);
  assert.equal(a.text, b.text);
  for (const h of ['content-type', 'content-length', 'cache-control'])
    assert.equal(a.headers.get(h), b.headers.get(h), h);
}

describe('kept answers', () => {
  let server: TestServer;
  let core: FakeCore;
  /** The same reads without a read version: nothing is kept, every request runs. */
  let uncached: TestServer;
  const runs = () => core.calls.onlineSessions.length;

  before(async () => {
    server = await startTestServer();
    core = server.core;
    uncached = await startTestServer();
  });
  after(async () => {
    await server.close();
    await uncached.close();
  });
  beforeEach(() => {
    for (const c of [core, uncached.core]) {
      c.sessions.clear();
      c.gatewayRows.clear();
      c.addGateway('gw-1', { liveUntil: c.now + 30_000 });
      for (const user of ['alice', 'bob', 'carol'])
        c.addSession({ userName: user, id: `sess_${user.padEnd(12, '0')}` });
    }
    core.version = 1;
    core.calls.onlineSessions.length = 0;
  });

  it('a repeated read is answered without running it, with the bytes and headers of the uncached path', async () => {
    const first = await server.gql(PAGE);
    assert.equal(first.status, 200, first.text);
    await server.gql(PAGE); // the document is prepared now: this run's answer is kept
    const before = runs();
    const kept = await server.gql(PAGE);
    const keptAgain = await server.gql(PAGE);
    assert.equal(runs(), before, 'answered from the kept answer');
    sameAnswer(kept, first);
    sameAnswer(keptAgain, first);
    sameAnswer(kept, await uncached.gql(PAGE, { token: uncached.admin }));
  });

  it('a move of the read version is seen by the very next request', async () => {
    await server.gql(PAGE);
    await server.gql(PAGE);
    const old = await server.gql(PAGE);
    const ended = [...core.sessions.values()].find((s) => s.userName === 'carol')!;
    core.sessions.delete(ended.id);
    core.version = 2;
    const before = runs();
    const now = await server.gql(PAGE);
    assert.equal(runs(), before + 1, 'ran again');
    assert.notEqual(now.text, old.text);
    assert.ok(!now.text.includes(ended.id), now.text);
  });

  it('an answer showing a gateway as connected is not kept past its liveness bound', async () => {
    await server.gql(PAGE);
    await server.gql(PAGE);
    const before = runs();
    await server.gql(PAGE);
    assert.equal(runs(), before);
    core.now += 30_001; // the version is the same, the clock is past gw-1's liveUntil
    core.gatewayRows.get('gw-1')!.agentConnected = false;
    const late = await server.gql(PAGE);
    assert.equal(runs(), before + 1, 'ran again');
    assert.match(late.text, /"agentConnected":false/);
  });

  it('scopes are part of the key, and a caller who may not read is refused with a warm cache', async () => {
    const reader = core.addToken('reader', ['sessions:read']);
    const auditor = core.addToken('auditor', ['audit:read']);
    await server.gql(PAGE);
    await server.gql(PAGE);
    await server.gql(PAGE);
    const before = runs();
    const asReader = await server.gql(PAGE, { token: reader });
    assert.equal(runs(), before + 1, "another set of scopes does not get the admin's kept answer");
    assert.equal(asReader.text, (await server.gql(PAGE)).text);
    const refused = await server.gql(PAGE, { token: auditor });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /FORBIDDEN/);
  });

  it('a revoked or expired token is refused even though its read is kept', async () => {
    const reader = core.addToken('to-revoke', ['sessions:read']);
    const short = core.addToken('short', ['sessions:read'], { expiresAt: core.now + 1000 });
    for (const token of [reader, short]) for (let i = 0; i < 3; i++) await server.gql(PAGE, { token });
    const id = (await server.gql({ query: '{ tokens { id name } }' })).text.match(
      /"id":"([^"]+)","name":"to-revoke"/,
    )![1]!;
    await server.gql({ query: 'mutation ($id: String!) { revokeToken(id: $id) { id } }', variables: { id } });
    const revoked = await server.gql(PAGE, { token: reader });
    assert.equal(revoked.status, 401, revoked.text);
    core.now += 1001;
    core.gatewayRows.get('gw-1')!.liveUntil = core.now + 30_000;
    const expired = await server.gql(PAGE, { token: short });
    assert.equal(expired.status, 401, expired.text);
  });

  it('concurrent identical reads at one version run once', async () => {
    await server.gql(PAGE); // prepared
    core.version = 3;
    const before = runs();
    const replies = await Promise.all(Array.from({ length: 8 }, () => server.gql(PAGE)));
    assert.equal(runs(), before + 1);
    for (const r of replies) sameAnswer(r, replies[0]!);
  });

  it('mutations, other queries, replica-only fields and answers with errors are never kept', async () => {
    const other = { query: '{ viewer { name } }' };
    const bad = { query: PAGE.query, variables: { first: 9999 } };
    for (let i = 0; i < 3; i++) {
      await server.gql(other);
      await server.gql(bad);
    }
    const before = runs();
    const refused = await server.gql(bad);
    assert.equal(runs(), before + 1, 'an answer with errors runs every time');
    assert.match(refused.text, /BAD_USER_INPUT/);

    const op = (query: string) => ({
      document: parse(query),
      operationName: undefined,
      kind: query.startsWith('mutation') ? OperationTypeNode.MUTATION : OperationTypeNode.QUERY,
      runs: 0,
      compiled: undefined,
    });
    assert.equal(isCacheableRead(op(PAGE.query)), true);
    assert.equal(isCacheableRead(op('{ gateways { id agentConnected sessionsOnline } __typename }')), true);
    assert.equal(isCacheableRead(op('query { ...F } fragment F on Query { onlineSession(id: "x") { id } }')), true);
    assert.equal(isCacheableRead(op('{ viewer { name } }')), false);
    assert.equal(isCacheableRead(op('{ onlineSessions { totalCount } auditEvents { totalCount } }')), false);
    assert.equal(isCacheableRead(op('{ gateways { id degradedReason } }')), false);
    assert.equal(isCacheableRead(op('{ gateways { ...G } } fragment G on Gateway { rejectedReports }')), false);
    assert.equal(isCacheableRead(op('{ __schema { types { name } } }')), false);
    assert.equal(isCacheableRead(op('mutation { disconnectBySessionId(onlineSessionId: "x") }')), false);
  });

  it('without a read version (PostgreSQL) every read runs', async () => {
    core.version = null;
    const before = runs();
    for (let i = 0; i < 3; i++) await server.gql(PAGE);
    assert.equal(runs(), before + 3);
  });
});

describe('the byte bound of kept answers', () => {
  it('counts the keys too: reads padded to 1 MB each cannot keep 256 MB of request bodies', () => {
    const cache = new ResponseCache({ maxBytes: 4 * 1024 * 1024 });
    const now = { version: 1, at: 0 };
    const pad = 'p'.repeat(1_000_000);
    for (let i = 0; i < 50; i++) {
      const key = `${i} ${pad}`;
      assert.equal(cache.find(key, now), undefined);
      cache.making(key, now)(
        { body: Buffer.from('{"data":{}}'), status: 200, headers: {}, label: 'q', validUntil: Infinity },
        now,
      );
    }
    assert.ok(cache.size <= 4, `${cache.size} answers kept with 1 MB keys under a 4 MiB bound`);
    assert.ok(cache.size >= 1, 'the latest is kept');
  });
});
