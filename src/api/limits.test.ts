/**
 * Query limits: a query that is too deep, too aliased or too costly is refused as a whole, before
 * any resolver runs, with 400 QUERY_TOO_COMPLEX. Introspection stays allowed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getIntrospectionQuery } from 'graphql';
import { startTestServer, type Reply, type TestServer } from './test-server.test-support.js';

function assertTooComplex(reply: Reply): void {
  assert.equal(reply.status, 400);
  const body = reply.json as { errors: { extensions: { code: string } }[]; data?: unknown };
  assert.equal(body.errors[0]!.extensions.code, 'QUERY_TOO_COMPLEX');
  assert.equal('data' in body, false);
}

describe('query limits', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('refuses an alias bomb of 1000 disconnects as a whole: no disconnect is attempted', async () => {
    const id = server.core.addSession().id;
    const fields = Array.from(
      { length: 1000 },
      (_, i) => `d${i}: disconnectBySessionId(onlineSessionId: "${id}")`,
    ).join('\n');
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const reply = await server.gql({ query: `mutation { ${fields} }` }, { headers: { accept } });
      assertTooComplex(reply);
    }
    assert.equal(server.core.calls.disconnect.length, 0);
    assert.equal(server.core.sessions.get(id)?.endedAt, null);
  });

  it('refuses aliases hidden in a fragment spread many times', async () => {
    const fragment = `fragment F on Query { ${Array.from({ length: 5 }, (_, i) => `g${i}: gateways { id }`).join(' ')} }`;
    const reply = await server.gql({ query: `{ ...F ... on Query { ...F ...F ...F ...F } } ${fragment}` });
    assertTooComplex(reply);
  });

  it('refuses a depth bomb (through introspection, the only recursion in this schema)', async () => {
    let selection = 'name';
    for (let i = 0; i < 8; i++) selection = `fields { type { ${selection} } }`;
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const reply = await server.gql({ query: `{ __schema { types { ${selection} } } }` }, { headers: { accept } });
      assertTooComplex(reply);
    }
  });

  it('refuses a query whose fields × first cost too much, before calling core', async () => {
    const node =
      'id user { id name } gateway { id name region } protocol clientAddress connectedAt bytesReceived bytesSent';
    const page = `onlineSessions(first: 500) { edges { cursor node { ${node} } } }`;
    const reply = await server.gql({
      query: `{ ${Array.from({ length: 10 }, (_, i) => `p${i}: ${page}`).join(' ')} }`,
    });
    assertTooComplex(reply);
    assert.match((reply.json as { errors: { message: string }[] }).errors[0]!.message, /costs more than/);
    assert.equal(server.core.calls.onlineSessions.length, 0);
  });

  it('counts a `first` given as a variable as the largest page', async () => {
    const node =
      'id user { id name } gateway { id name region protocol } protocol clientAddress virtualAddress connectedAt bytesReceived bytesSent lastSeenAt';
    const page = `onlineSessions(first: $n) { edges { cursor node { ${node} } } }`;
    const aliased = Array.from({ length: 6 }, (_, i) => `p${i}: ${page}`).join(' ');
    const reply = await server.gql({ query: `query ($n: Int) { ${aliased} }`, variables: { n: 1 } });
    assertTooComplex(reply);
    const withDefault = await server.gql({ query: `query ($n: Int = 10) { ${aliased} }`, variables: { n: 1 } });
    assert.equal(withDefault.status, 200);
  });

  it('allows a full page of sessions and the standard introspection query', async () => {
    const page = await server.gql({
      query:
        'query ($n: Int) { onlineSessions(first: $n) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id user { id name } gateway { id name region protocol } protocol clientAddress virtualAddress virtualAddress6 connectedAt bytesReceived bytesSent lastSeenAt client { version platform } endedAt endCause endedBy { name } endReason } } } }',
      variables: { n: 500 },
    });
    assert.equal(page.status, 200, page.text);
    const introspection = await server.gql({ query: getIntrospectionQuery() });
    assert.equal(introspection.status, 200);
    const types = (introspection.json as { data: { __schema: { types: { name: string }[] } } }).data.__schema.types.map(
      (t) => t.name,
    );
    assert.ok(types.includes('Session') && types.includes('DateTime'));
  });

  it('does not loop on fragment cycles (the cycle is reported as a validation error)', async () => {
    const reply = await server.gql({
      query: '{ ...A } fragment A on Query { gateways { id } ...B } fragment B on Query { ...A }',
    });
    assert.equal(reply.status, 200);
    assert.match(
      (reply.json as { errors: { message: string }[] }).errors[0]!.message,
      /Cannot spread fragment "A" within itself/,
    );
  });
});
