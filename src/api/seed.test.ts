/**
 * The seed's examples, request for request: the same curl body, the same response body (modulo
 * whitespace and `locations`, key order included) and the same HTTP status.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startTestServer, type Reply, type TestServer } from './test-server.test-support.js';
import { withoutLocations } from '../../test/support/graphql-body.js';

// The seed's curl -d argument, verbatim.
const SEED_BODY = `{
    "query": "mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }",
    "variables": {
      "onlineSessionId": "sess_abc123xyz789"
    }
  }`;

/** curl's headers for the seed request (curl sends Accept: *\/*). */
function seedRequest(server: TestServer, token: string | null): Promise<Reply> {
  return server.gql(SEED_BODY, { token, headers: { accept: '*/*' } });
}

const canonical = withoutLocations;

describe('seed: disconnectBySessionId', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());
  beforeEach(() => {
    server.core.sessions.clear();
    server.core.gatewayConfirms = true;
  });

  it('200 {"data":{"disconnectBySessionId":true}} once the gateway confirmed', async () => {
    server.core.addSession({ id: 'sess_abc123xyz789' });
    const reply = await seedRequest(server, server.admin);
    assert.equal(reply.status, 200);
    assert.equal(canonical(reply.json), JSON.stringify({ data: { disconnectBySessionId: true } }));
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
    assert.notEqual(server.core.sessions.get('sess_abc123xyz789')?.endedAt, null);
    assert.deepEqual(server.core.calls.disconnect.at(-1), { sessionId: 'sess_abc123xyz789', options: {} });
  });

  it('400 SESSION_NOT_FOUND for an unknown session, exactly as the seed prints it', async () => {
    const reply = await seedRequest(server, server.admin);
    assert.equal(reply.status, 400);
    const expected = {
      errors: [
        {
          message: 'Session not found or already disconnected',
          path: ['disconnectBySessionId'],
          extensions: { code: 'SESSION_NOT_FOUND' },
        },
      ],
      data: null,
    };
    assert.equal(canonical(reply.json), JSON.stringify(expected));
    // `locations` is there, between message and path, as graphql-js prints it.
    assert.match(
      reply.text,
      /^\{"errors":\[\{"message":"Session not found or already disconnected","locations":\[\{"line":1,"column":\d+\}\],"path":/,
    );
  });

  it('400 SESSION_NOT_FOUND for a session that already ended', async () => {
    server.core.addSession({ id: 'sess_abc123xyz789' });
    assert.equal((await seedRequest(server, server.admin)).status, 200);
    const again = await seedRequest(server, server.admin);
    assert.equal(again.status, 400);
    assert.match(again.text, /"code":"SESSION_NOT_FOUND"/);
  });

  it('403 FORBIDDEN for a token without admin, exactly as the seed prints it', async () => {
    server.core.addSession({ id: 'sess_abc123xyz789' });
    const reader = server.core.addToken('reader', ['sessions:read', 'audit:read']);
    const reply = await seedRequest(server, reader);
    assert.equal(reply.status, 403);
    const expected = {
      errors: [
        {
          message: 'Admin access required to disconnect sessions',
          path: ['disconnectBySessionId'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
      data: null,
    };
    assert.equal(canonical(reply.json), JSON.stringify(expected));
    assert.equal(server.core.sessions.get('sess_abc123xyz789')?.endedAt, null);
  });

  // Not in the seed: a 503 that says the disconnect may still take effect, and which of the two 503s it is.
  it('503 GATEWAY_UNAVAILABLE with extensions.disconnect UNCONFIRMED when the gateway did not confirm in time', async () => {
    server.core.addSession({ id: 'sess_abc123xyz789' });
    server.core.gatewayConfirms = false;
    const reply = await seedRequest(server, server.admin);
    assert.equal(reply.status, 503);
    assert.equal(
      canonical(reply.json),
      JSON.stringify({
        errors: [
          {
            message: 'The gateway did not confirm the disconnect in time; it may still take effect',
            path: ['disconnectBySessionId'],
            extensions: { code: 'GATEWAY_UNAVAILABLE', disconnect: 'UNCONFIRMED' },
          },
        ],
        data: null,
      }),
    );
  });

  it('the same answers from the jit-compiled path (the third run of a document is compiled)', async () => {
    for (let i = 0; i < 3; i++) {
      const reply = await seedRequest(server, server.admin);
      assert.equal(reply.status, 400);
      assert.match(
        reply.text,
        /^\{"errors":\[\{"message":"Session not found or already disconnected","locations":\[\{"line":1,"column":\d+\}\],"path":\["disconnectBySessionId"\],"extensions":\{"code":"SESSION_NOT_FOUND"\}\}\],"data":null\}$/,
      );
    }
    const compiled = server.logs
      .map((l) => JSON.parse(l) as { msg: string; compiled?: boolean })
      .filter((l) => l.msg === 'graphql-jit compile');
    assert.deepEqual(
      compiled.map((l) => l.compiled),
      [true],
    );
    server.core.addSession({ id: 'sess_abc123xyz789' });
    const ok = await seedRequest(server, server.admin);
    assert.equal(ok.text, '{"data":{"disconnectBySessionId":true}}');
  });

  describe('401 UNAUTHENTICATED', () => {
    const cases: [string, (s: TestServer) => Record<string, string>][] = [
      ['no Authorization header', () => ({})],
      ['a non-Bearer scheme', (s) => ({ authorization: `Basic ${Buffer.from(`x:${s.admin}`).toString('base64')}` })],
      ['a malformed bearer', () => ({ authorization: 'Bearer' })],
      ['an unknown token', () => ({ authorization: 'Bearer sbt_aaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' })],
      ['a revoked token', (s) => ({ authorization: `Bearer ${s.core.addToken('old', ['admin'], { revokedAt: 1 })}` })],
      ['an expired token', (s) => ({ authorization: `Bearer ${s.core.addToken('old', ['admin'], { expiresAt: 1 })}` })],
    ];
    for (const [name, headers] of cases) {
      it(`for ${name}, with WWW-Authenticate: Bearer and nothing run`, async () => {
        server.core.addSession({ id: 'sess_abc123xyz789' });
        const before = server.core.calls.disconnect.length;
        const reply = await server.gql(SEED_BODY, { token: null, headers: headers(server) });
        assert.equal(reply.status, 401);
        assert.equal(reply.headers.get('www-authenticate'), 'Bearer');
        assert.deepEqual(reply.json, {
          errors: [{ message: 'A valid API token is required', extensions: { code: 'UNAUTHENTICATED' } }],
        });
        assert.equal(server.core.calls.disconnect.length, before);
        assert.equal(server.core.sessions.get('sess_abc123xyz789')?.endedAt, null);
      });
    }

    it('authenticates once per request, with the client address, user agent and request id', async () => {
      const before = server.core.calls.authenticate.length;
      await server.gql(
        { query: '{ a: gateways { id } b: gateways { id } }' },
        { headers: { 'user-agent': 'probe/1', 'x-request-id': 'probe-req-1' } },
      );
      assert.equal(server.core.calls.authenticate.length, before + 1);
      assert.deepEqual(server.core.calls.authenticate.at(-1), {
        bearer: server.admin,
        meta: { ip: '127.0.0.1', userAgent: 'probe/1', requestId: 'probe-req-1' },
      });
    });
  });
});
