/**
 * GraphQL over HTTP conformance (graphql-http's own audit against the real server) and the HTTP
 * edges: body limit, encoding, JSON, content type, methods, variables, routes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditServer } from 'graphql-http';
import { startTestServer, toReply, type TestServer } from './test-server.test-support.js';

/** `{"errors":[{…,"extensions":{"code":CODE}}]}` with a JSON content type. */
function assertJsonError(reply: { headers: Headers; json: unknown }, code: string): void {
  assert.match(reply.headers.get('content-type') ?? '', /^application\/(graphql-response\+)?json; charset=utf-8$/);
  const body = reply.json as { errors?: { message?: unknown; extensions?: { code?: unknown } }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `no errors in ${JSON.stringify(reply.json)}`);
  assert.equal(typeof body.errors[0]!.message, 'string');
  assert.equal(body.errors[0]!.extensions?.code, code);
}

describe('GraphQL over HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ bodyLimitBytes: 64 * 1024 });
  });
  after(() => server.close());

  it('passes every graphql-http server audit (MUST, SHOULD and MAY)', async () => {
    const fetchFn = (input: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${server.admin}`);
      return fetch(input, { ...init, headers });
    };
    const results = await auditServer({ url: `${server.url}/graphql`, fetchFn });
    assert.ok(results.length >= 40, `only ${results.length} audits ran`);
    const failed = results
      .filter((r) => r.status !== 'ok')
      .map((r) => `${r.id} ${r.name}: ${'reason' in r ? r.reason : ''}`);
    assert.deepEqual(failed, []);
    for (const level of ['MUST', 'SHOULD'])
      assert.ok(results.some((r) => r.name.startsWith(level) && r.status === 'ok'));
  });

  it('413 PAYLOAD_TOO_LARGE for a body over the limit (declared length)', async () => {
    const query = `{ __typename }`.padEnd(70 * 1024, ' ');
    const reply = await server.gql({ query });
    assert.equal(reply.status, 413);
    assertJsonError(reply, 'PAYLOAD_TOO_LARGE');
  });

  it('413 PAYLOAD_TOO_LARGE for a chunked body that grows over the limit', async () => {
    const url = new URL(`${server.url}/graphql`);
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${server.admin}` },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // No Content-Length: Node sends it chunked, so only the running count can catch it.
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8 * 1024));
      req.end();
    });
    assert.equal(reply.status, 413);
    assert.equal(
      (JSON.parse(reply.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('400 BAD_REQUEST for a body that is not valid UTF-8', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"query":"{ __typename }","x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.admin}` },
      body: bytes,
    });
    const reply = await toReply(res);
    assert.equal(reply.status, 400);
    assertJsonError(reply, 'BAD_REQUEST');
    assert.match((reply.json as { errors: { message: string }[] }).errors[0]!.message, /UTF-8/);
  });

  it('400 BAD_REQUEST for malformed JSON', async () => {
    const reply = await server.gql('{"query": "{ __typename }"');
    assert.equal(reply.status, 400);
    assertJsonError(reply, 'BAD_REQUEST');
  });

  it('415 UNSUPPORTED_MEDIA_TYPE with a JSON body for a wrong content type', async () => {
    const reply = await server.gql('query=%7B__typename%7D', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(reply.status, 415);
    assertJsonError(reply, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('400 BAD_REQUEST when variables is not an object', async () => {
    const reply = await server.gql({
      query: 'query ($id: String!) { onlineSession(id: $id) { id } }',
      variables: '{"id":"x"}',
    });
    assert.equal(reply.status, 400);
    assertJsonError(reply, 'BAD_REQUEST');
  });

  it('variables that do not coerce: BAD_USER_INPUT, 400 under graphql-response+json, 200 under json (as the spec says)', async () => {
    const body = {
      query: 'query ($first: Int) { onlineSessions(first: $first) { totalCount } }',
      variables: { first: 'ten' },
    };
    const strict = await server.gql(body, { headers: { accept: 'application/graphql-response+json' } });
    assert.equal(strict.status, 400);
    assertJsonError(strict, 'BAD_USER_INPUT');
    assert.equal((strict.json as { data?: unknown }).data, undefined);
    const legacy = await server.gql(body, { headers: { accept: 'application/json' } });
    assert.equal(legacy.status, 200);
    assertJsonError(legacy, 'BAD_USER_INPUT');
    assert.equal(server.core.calls.onlineSessions.length, 0);
  });

  it('400 BAD_USER_INPUT for a DateTime variable that is not ISO-8601', async () => {
    const reply = await server.gql(
      {
        query: 'query ($t: DateTime) { onlineSessions(filter: { connectedAfter: $t }) { totalCount } }',
        variables: { t: 'yesterday' },
      },
      { headers: { accept: 'application/graphql-response+json' } },
    );
    assert.equal(reply.status, 400);
    assertJsonError(reply, 'BAD_USER_INPUT');
  });

  it('GET runs queries; mutations over GET are 405 with Allow: POST and run nothing', async () => {
    const get = (query: string) =>
      fetch(`${server.url}/graphql?query=${encodeURIComponent(query)}`, {
        headers: { authorization: `Bearer ${server.admin}` },
      }).then(toReply);
    const ok = await get('{ gateways { id } }');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { data: { gateways: [] } });
    const before = server.core.calls.disconnect.length;
    const refused = await get('mutation { disconnectBySessionId(onlineSessionId: "sess_abc123xyz789") }');
    assert.equal(refused.status, 405);
    assert.equal(refused.headers.get('allow'), 'POST');
    assertJsonError(refused, 'METHOD_NOT_ALLOWED');
    assert.equal(server.core.calls.disconnect.length, before);
  });

  it('405 METHOD_NOT_ALLOWED with a JSON body for other methods', async () => {
    const reply = await toReply(
      await fetch(`${server.url}/graphql`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${server.admin}` },
        body: '{}',
      }),
    );
    assert.equal(reply.status, 405);
    assertJsonError(reply, 'METHOD_NOT_ALLOWED');
  });

  it('406 NOT_ACCEPTABLE with a JSON body for an Accept it cannot meet', async () => {
    const reply = await server.gql({ query: '{ __typename }' }, { headers: { accept: 'text/html' } });
    assert.equal(reply.status, 406);
    assertJsonError(reply, 'NOT_ACCEPTABLE');
  });

  it('parse and validation errors carry a code', async () => {
    const parse = await server.gql({ query: '{' });
    assertJsonError(parse, 'GRAPHQL_PARSE_FAILED');
    const invalid = await server.gql({ query: '{ nope }' });
    assertJsonError(invalid, 'GRAPHQL_VALIDATION_FAILED');
  });

  it('GET /healthz → 200 {"status":"ok"} without a token; unknown paths → 404 JSON', async () => {
    const health = await toReply(await fetch(`${server.url}/healthz`));
    assert.equal(health.status, 200);
    assert.equal(health.text, '{"status":"ok"}');
    assert.match(health.headers.get('content-type') ?? '', /^application\/json/);
    const missing = await toReply(await fetch(`${server.url}/nope`));
    assert.equal(missing.status, 404);
    assertJsonError(missing, 'NOT_FOUND');
  });
});

describe('every path answers every method coherently', () => {
  let server: TestServer;
  let ui: string;
  before(async () => {
    ui = mkdtempSync(join(tmpdir(), 'sb-methods-ui-'));
    writeFileSync(join(ui, 'index.html'), '<!doctype html><title>console</title>');
    mkdirSync(join(ui, 'assets'));
    writeFileSync(join(ui, 'assets', 'app-1234.js'), 'console.log(1)');
    server = await startTestServer({ uiDir: ui });
  });
  after(async () => {
    await server.close();
    rmSync(ui, { recursive: true, force: true });
  });

  /** One request exactly as given (node:http: HEAD and OPTIONS as they are, no header added). */
  function raw(
    method: string,
    path: string,
    body?: string,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    const url = new URL(server.url);
    const headers: Record<string, string> = {
      authorization: `Bearer ${server.admin}`,
      accept: path.startsWith('/graphql/stream') ? 'text/event-stream' : 'application/graphql-response+json',
    };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
  const QUERY = JSON.stringify({ query: '{ __typename }' });
  const asGet = `?query=${encodeURIComponent('{ __typename }')}`;
  /** Each path: the methods it serves (all else is 405 with exactly this Allow); null: unknown, 404 whatever the method. */
  const PATHS: [string, string[] | null][] = [
    ['/graphql', ['GET', 'HEAD', 'POST']],
    ['/graphql/stream', ['GET', 'POST']],
    ['/healthz', ['GET', 'HEAD']],
    ['/readyz', ['GET', 'HEAD']],
    ['/metrics', ['GET', 'HEAD']],
    ['/', ['GET', 'HEAD']],
    ['/sessions', ['GET', 'HEAD']],
    ['/assets/app-1234.js', ['GET', 'HEAD']],
    ['/nope', null],
    ['/graphql/', null],
    ['/assets/missing.js', null],
    ['/healthz/x', null],
  ];

  for (const [path, allowed] of PATHS) {
    it(`${path}: ${allowed === null ? '404 for every method' : `${allowed.join(', ')} served, 405 with that Allow otherwise`}`, async () => {
      for (const method of METHODS) {
        const target = path.startsWith('/graphql') && (method === 'GET' || method === 'HEAD') ? path + asGet : path;
        const r = await raw(method, target, method === 'POST' ? QUERY : undefined);
        const what = `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`;
        assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
        if (allowed === null) {
          assert.equal(r.status, 404, what);
          assert.equal(r.headers.allow, undefined, what);
        } else if (allowed.includes(method)) {
          assert.equal(r.status, 200, what);
          if (method === 'HEAD') assert.equal(r.text, '', `${what}: no body for HEAD`);
        } else {
          assert.equal(r.status, 405, what);
          assert.equal(r.headers.allow, allowed.join(', '), `${what}: Allow`);
          if (method !== 'HEAD') assert.match(r.text, /"code":"METHOD_NOT_ALLOWED"/, what);
        }
        // No CORS: nothing tells a browser another origin may read an answer.
        assert.equal(r.headers['access-control-allow-origin'], undefined, what);
        if (method !== 'HEAD' && (allowed === null || !allowed.includes(method)))
          assert.match(String(r.headers['content-type']), /^application\/json/, what);
      }
    });
  }

  it('HEAD /graphql gives the headers GET gives, without the body, and runs no mutation', async () => {
    const get = await raw('GET', `/graphql${asGet}`);
    const head = await raw('HEAD', `/graphql${asGet}`);
    assert.equal(head.status, get.status);
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    assert.equal(head.headers['content-length'], get.headers['content-length']);
    const before = server.core.calls.disconnect.length;
    const mutation = await raw(
      'HEAD',
      `/graphql?query=${encodeURIComponent('mutation { disconnectBySessionId(onlineSessionId: "sess_a") }')}`,
    );
    assert.equal(mutation.status, 405);
    assert.equal(server.core.calls.disconnect.length, before);
  });

  it('an event stream carries nosniff', async () => {
    const r = await raw('POST', '/graphql/stream', QUERY);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });
});

describe('the absolute form of the request target', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  function get(target: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const url = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: target, headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('GET http://host/healthz and a query in absolute form are served as their paths (RFC 9112: a server must accept it)', async () => {
    const health = await get(`http://switchboard.example/healthz`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.text, '{"status":"ok"}');
    const query = await get(`http://switchboard.example/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      authorization: `Bearer ${server.admin}`,
    });
    assert.equal(query.status, 200, query.text);
    assert.equal(query.text, '{"data":{"__typename":"Query"}}');
    assert.equal((await get('http://switchboard.example/nope')).status, 404);
  });
});
