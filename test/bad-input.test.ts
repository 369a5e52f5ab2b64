/**
 * Replays the bad-input corpus (test/corpus/bad-input.ts) against the whole running Switchboard with a
 * gateway test double: each case gets its status and `extensions.code`; no session changes, no
 * disconnect reaches the gateway; the server keeps serving; client mistakes log nothing at error level.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, waitFor, type AppHarness } from './support/app-harness.js';
import { BAD_INPUT, type BadInputCase } from './corpus/bad-input.js';
import { assertNoSecrets } from './support/secret-scan.js';

const gw = new FakeAdapter({ id: 'gw-corpus' });
let h: AppHarness;
const sessions: string[] = [];

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request exactly as the case describes it (node:http, so that no header is added behind our back). */
function send(c: BadInputCase): Promise<RawReply> {
  const url = new URL(h.url);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${h.admin}`,
  };
  for (const [k, v] of Object.entries(c.request.headers ?? {})) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  const text = c.request.body?.replaceAll('$SESSION_UPPER', sessions[0]!.toUpperCase()).replaceAll('$SESSION', sessions[0]!);
  const body = c.request.bodyBase64 !== undefined ? Buffer.from(c.request.bodyBase64, 'base64') : text !== undefined ? Buffer.from(text) : undefined;
  if (body !== undefined && !c.request.chunked) headers['content-length'] = String(body.length);
  const path = (c.request.path ?? '/graphql').replaceAll('$SESSION', sessions[0]!);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: c.request.method ?? 'POST', path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer (413, 401) and close before the whole body is sent: that is the point.
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    if (body === undefined) return void req.end();
    if (!c.request.chunked) return void req.end(body);
    for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
    req.end();
  });
}

before(async () => {
  h = await startApp({ adapters: [gw] });
  for (const user of ['corpus-a', 'corpus-b', 'corpus-c']) {
    const r = gw.connect(user);
    sessions.push(await waitFor(async () => (await h.app.store.sessions.findByRef('gw-corpus', r.ref))?.id, 5000, 'session stored'));
  }
});
after(() => h.close());

test('the corpus has a unique name per case and only 4xx expectations', () => {
  assert.equal(new Set(BAD_INPUT.map((c) => c.name)).size, BAD_INPUT.length);
  for (const c of BAD_INPUT) {
    const legacy = c.request.headers?.accept === 'application/json';
    assert.ok((c.expect.status >= 400 && c.expect.status < 500) || (legacy && c.expect.status === 200), c.name);
  }
});

for (const c of BAD_INPUT) {
  test(`bad input: ${c.name} → ${c.expect.status} ${c.expect.code}`, async () => {
    const onlineBefore = await h.app.store.sessions.countOnline({});
    const reply = await send(c);
    assert.equal(reply.status, c.expect.status, `${c.name}: ${reply.text.slice(0, 300)}`);
    const json = JSON.parse(reply.text) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
    assert.equal(json.errors?.[0]?.extensions?.code, c.expect.code, `${c.name}: ${reply.text.slice(0, 300)}`);
    assert.ok(json.data === undefined || json.data === null, 'no data for a refused request');
    for (const e of json.errors!) {
      assert.ok(!/RangeError|TypeError|stack|at .+\.(ts|js):\d+/.test(e.message), `no internals in the message: ${e.message.slice(0, 200)}`);
    }
    assert.equal(await h.app.store.sessions.countOnline({}), onlineBefore, 'no session changed');
  });
}

test('after the whole corpus: every session still online, no disconnect reached the gateway, the server serves', async () => {
  for (const id of sessions) assert.ok(await h.app.store.sessions.findOnline(id), `${id} still online`);
  assert.equal(gw.commands.length, 0, 'the gateway was never asked to disconnect anything');
  const health = await fetch(`${h.url}/healthz`);
  assert.equal(health.status, 200);
  const r = await h.gql('{ onlineSessions(first: 10) { totalCount } }');
  assert.equal(r.status, 200);
  assert.equal((r.json.data?.onlineSessions as { totalCount: number }).totalCount, 3);
});

test('client mistakes log nothing at error level, and no token reaches a log', () => {
  const errors = h.logs.map((l) => JSON.parse(l) as { level: number; msg?: string }).filter((l) => l.level >= 50);
  assert.deepEqual(errors.map((e) => e.msg), []);
  const corpusTokens = BAD_INPUT.map((c) => /^Bearer (.+)$/.exec(c.request.headers?.authorization ?? '')?.[1] ?? '').filter((t) => t.length >= 8);
  assertNoSecrets(h.logs, [h.admin, ...corpusTokens], 'bad-input suite');
});

test('a valid disconnect with the longest allowed reason and message still works', async () => {
  const r = await h.gql('mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome session { endReason } } }', {
    in: { sessionId: sessions[2], reason: 'r'.repeat(1000), message: 'm'.repeat(240) },
  });
  assert.equal(r.status, 200, r.text);
  const payload = r.json.data?.disconnectSession as { outcome: string; session: { endReason: string } };
  assert.equal(payload.outcome, 'DISCONNECTED');
  assert.equal(payload.session.endReason.length, 1000, 'the reason is kept whole');
});
