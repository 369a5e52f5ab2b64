/**
 * Replays the bad-input corpus (test/corpus/bad-input.ts) against the whole running Switchboard with a
 * gateway test double, on SQLite and on PostgreSQL, over HTTP, and — for every case that is one GraphQL
 * operation — over WebSocket (graphql-ws) and SSE (graphql-sse). Each case gets its code (and status,
 * where the transport has one); no session changes, no disconnect reaches the gateway; input refused
 * by the input gate writes no audit row; a valid request on the same transport works right after it;
 * client mistakes log nothing at error level.
 */
import { describe, test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { isDeepStrictEqual } from 'node:util';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { BAD_INPUT, INPUT_GATE, type BadInputCase } from './corpus/bad-input.js';
import { assertNoSecrets } from './support/secret-scan.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import {
  overRawWebSocket,
  overSse,
  overWebSocket,
  type Answer,
  type Operation,
  type Transport,
} from './support/graphql-transports.js';
import { sql } from 'kysely';
import { kysely } from '../src/store/contract/fixtures.js';

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** What a case's placeholders stand for in one running server. */
interface Fixture {
  h: AppHarness;
  sessions: string[];
  reader: string;
}

function fill(text: string, f: Fixture): string {
  return text
    .replaceAll('$SESSION_UPPER', f.sessions[0]!.toUpperCase())
    .replaceAll('$SESSION', f.sessions[0]!)
    .replaceAll('$READER', f.reader);
}

/** One request exactly as the case describes it (node:http, so that no header is added behind our back). */
function send(c: BadInputCase, f: Fixture): Promise<RawReply> {
  const url = new URL(f.h.url);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${f.h.admin}`,
  };
  for (const [k, v] of Object.entries(c.request.headers ?? {})) {
    if (v === null) delete headers[k];
    else headers[k] = fill(v, f);
  }
  const text = c.request.body === undefined ? undefined : fill(c.request.body, f);
  const body =
    c.request.bodyBase64 !== undefined
      ? Buffer.from(c.request.bodyBase64, 'base64')
      : text !== undefined
        ? Buffer.from(text)
        : undefined;
  if (body !== undefined && !c.request.chunked) headers['content-length'] = String(body.length);
  const path = fill(c.request.path ?? '/graphql', f);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: c.request.method ?? 'POST', path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    // The server may answer (413, 401) and close before the whole body is sent: that is the point.
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
    );
    if (body === undefined) return void req.end();
    if (!c.request.chunked) return void req.end(body);
    for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
    req.end();
  });
}

/** The largest body replayed over WebSocket and SSE (both refuse bodies over 256 KiB as a whole). */
const STREAM_BODY_MAX = 200 * 1024;

/**
 * The case as one GraphQL operation and the token it runs with, when it is one: a plain POST /graphql
 * with default headers (or only the read-only token), a JSON object body with a `query`.
 */
function asOperation(c: BadInputCase): { op: Operation; token: 'admin' | 'reader' } | null {
  const r = c.request;
  if (r.method !== undefined || r.path !== undefined || r.bodyBase64 !== undefined || r.chunked || r.body === undefined)
    return null;
  const headers = Object.entries(r.headers ?? {});
  const reader = headers.length === 1 && headers[0]![0] === 'authorization' && headers[0]![1] === 'Bearer $READER';
  if (headers.length > 0 && !reader) return null;
  if (r.body.length > STREAM_BODY_MAX) return null;
  let body: unknown;
  try {
    body = JSON.parse(r.body);
    // The clients serialise it again: it must survive that unchanged (1e400 would become null).
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(body)), body)) return null;
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { query, variables, operationName } = body as Record<string, unknown>;
  if (typeof query !== 'string') return null;
  if (variables !== undefined && (typeof variables !== 'object' || variables === null || Array.isArray(variables)))
    return null;
  if (operationName !== undefined && typeof operationName !== 'string') return null;
  return {
    op: { query, variables: variables as Record<string, unknown> | undefined, operationName },
    token: reader ? 'reader' : 'admin',
  };
}

function transportsOf(c: BadInputCase): Transport[] {
  if (c.transports) return [...c.transports];
  return asOperation(c) ? ['http', 'ws', 'sse'] : ['http'];
}

const VALID: Operation = { query: '{ onlineSessions(first: 10) { totalCount } }' };

async function overStream(transport: 'ws' | 'sse', f: Fixture, op: Operation, token: string): Promise<Answer> {
  const filled: Operation = JSON.parse(fill(JSON.stringify(op), f)) as Operation;
  // A batch (an array) is no operation graphql-ws's client would send: it goes as it is.
  if (transport === 'ws' && Array.isArray(filled)) return overRawWebSocket(f.h.url, token, filled);
  return transport === 'ws' ? overWebSocket(f.h.url, token, filled) : overSse(f.h.url, token, filled);
}

const STORES = [
  {
    name: 'SQLite',
    database: async () => ({ url: undefined as string | undefined, drop: async () => {} }),
    skip: async () => false as const,
  },
  {
    name: 'PostgreSQL',
    database: async () => createFreshPostgresDatabase() as Promise<{ url: string | undefined; drop(): Promise<void> }>,
    skip: postgresSkipReason,
  },
];

test('the corpus has a unique name per case and only 4xx expectations', () => {
  assert.equal(new Set(BAD_INPUT.map((c) => c.name)).size, BAD_INPUT.length);
  for (const c of BAD_INPUT) {
    const legacy = c.request.headers?.accept === 'application/json';
    assert.ok((c.expect.status >= 400 && c.expect.status < 500) || (legacy && c.expect.status === 200), c.name);
  }
});

test('every case of the input gate runs on every transport that serves it', () => {
  assert.ok(INPUT_GATE.length >= 60, `${INPUT_GATE.length} gate cases`);
  for (const c of INPUT_GATE) {
    const expected = c.transports ?? ['http', 'ws', 'sse'];
    assert.deepEqual(transportsOf(c), [...expected], c.name);
  }
});

// Each store's suite runs its cases one by one (they count sessions and audit rows); the two stores'
// suites run side by side, each against its own server. node:test hands a suite's `concurrency` down
// to the suites and tests inside it: without `concurrency: 1` below, each store's cases ran two at a
// time, and a gate case counted the audit row of a refused disconnect running beside it (PostgreSQL,
// under load: "refused by the gate: no audit row"), and the last-but-one test's disconnect ended a
// session while the one before it counted them (totalCount 2 with 3 sessions online).
const skips = await Promise.all(STORES.map((store) => store.skip()));
describe('bad input on each store', { concurrency: STORES.length }, () => {
  for (const [i, store] of STORES.entries()) {
    describe(`bad input on ${store.name}`, { skip: skips[i] || false, concurrency: 1 }, () => {
      const gw = new FakeAdapter({ id: `gw-corpus` });
      /** The events a slow reader's stream is sent: each of its sessions connects and quits. */
      const slowGw = new FakeAdapter({ id: `gw-slow-reader` });
      const f = { sessions: [] as string[] } as unknown as Fixture;
      let database: { url: string | undefined; drop(): Promise<void> };
      /** Tests of this store running now: its counts of sessions and audit rows hold only one at a time. */
      let running = 0;
      beforeEach(() => {
        running += 1;
        assert.equal(running, 1, `the ${store.name} cases run one by one`);
      });
      afterEach(() => void (running -= 1));

      before(async () => {
        database = await store.database();
        f.h = await startApp({ adapters: [gw, slowGw], databaseUrl: database.url });
        for (const user of ['corpus-a', 'corpus-b', 'corpus-c']) {
          const r = gw.connect(user);
          f.sessions.push(
            await waitFor(
              async () => (await f.h.app.store.sessions.findByRef('gw-corpus', r.ref))?.id,
              5000,
              'session stored',
            ),
          );
        }
        f.reader = await f.h.token(['sessions:read'], 'corpus reader');
      });
      after(async () => {
        await f.h?.close();
        await database?.drop();
      });

      for (const c of BAD_INPUT) {
        for (const transport of transportsOf(c)) {
          test(`${transport}: ${c.name} → ${transport === 'http' ? `${c.expect.status} ` : ''}${c.expect.code}`, async () => {
            const onlineBefore = await f.h.app.store.sessions.countOnline({});
            const auditBefore = await f.h.app.store.audit.count({});
            let answer: Answer;
            if (transport === 'http') {
              const reply = await send(c, f);
              assert.equal(reply.status, c.expect.status, `${c.name}: ${reply.text.slice(0, 300)}`);
              for (const [name, value] of Object.entries(c.expect.headers ?? {}))
                assert.equal(reply.headers[name], value, `${c.name}: the ${name} header`);
              // Every answer of the API, refusals included: no browser may sniff it into something else.
              assert.equal(reply.headers['x-content-type-options'], 'nosniff', `${c.name}: nosniff`);
              assert.equal(reply.headers['access-control-allow-origin'], undefined, `${c.name}: no CORS`);
              const json = JSON.parse(reply.text) as {
                data?: unknown;
                errors?: { message: string; extensions?: { code?: string } }[];
              };
              answer = {
                status: reply.status,
                code: json.errors?.[0]?.extensions?.code,
                message: json.errors?.[0]?.message ?? '',
                data: Object.values((json.data ?? {}) as Record<string, unknown>).some((v) => v !== null),
                closeCode: null,
              };
              for (const e of json.errors!) {
                assert.ok(
                  !/RangeError|TypeError|stack|at .+\.(ts|js):\d+/.test(e.message),
                  `no internals in the message: ${e.message.slice(0, 200)}`,
                );
              }
            } else {
              const { op, token } = asOperation(c) ?? {
                op: JSON.parse(c.request.body!) as Operation,
                token: 'admin' as const,
              };
              answer = await overStream(transport, f, op, token === 'reader' ? f.reader : f.h.admin);
              if (answer.status !== null) assert.ok(answer.status < 500, `${c.name}: status ${answer.status}`);
            }
            assert.equal(answer.code, c.expect.code, `${c.name} over ${transport}: ${answer.message.slice(0, 300)}`);
            if (c.expect.message) assert.match(answer.message, c.expect.message, `${c.name} over ${transport}`);
            assert.ok(!answer.data, 'no data for a refused request');
            assert.ok(
              !/RangeError|TypeError|\bstack\b|at .+\.(ts|js):\d+/.test(answer.message),
              `no internals: ${answer.message.slice(0, 200)}`,
            );
            assert.equal(await f.h.app.store.sessions.countOnline({}), onlineBefore, 'no session changed');
            if (answer.message.startsWith('Argument '))
              assert.equal(await f.h.app.store.audit.count({}), auditBefore, 'refused by the gate: no audit row');
            // A disconnect refused by the core is recorded before it is answered (law 1), on every transport.
            if (answer.code === 'SESSION_NOT_FOUND')
              assert.equal(await f.h.app.store.audit.count({}), auditBefore + 1, 'a refused disconnect: its audit row');
            // The server keeps serving, on the same transport.
            const follow = transport === 'http' ? await f.h.gql(VALID.query) : null;
            if (follow) assert.equal(follow.status, 200, follow.text);
            else {
              const next = await overStream(transport as 'ws' | 'sse', f, VALID, f.h.admin);
              assert.equal(next.code, undefined, `follow-up over ${transport}: ${next.message}`);
              assert.ok(next.data, 'the follow-up has data');
            }
          });
        }
      }

      test('after the whole corpus: every session still online, no disconnect reached the gateway, the server serves', async () => {
        for (const id of f.sessions) assert.ok(await f.h.app.store.sessions.findOnline(id), `${id} still online`);
        assert.equal(gw.commands.length, 0, 'the gateway was never asked to disconnect anything');
        const health = await fetch(`${f.h.url}/healthz`);
        assert.equal(health.status, 200);
        // totalCount reads the online counters (PostgreSQL: shard rows kept by triggers); the page reads
        // the rows. A failure names which side is wrong: the counters are read again after the rows (two
        // different reads mean a real change came between), and the rows as the database holds them.
        // (Once totalCount said 2 with 3 sessions online: the cases ran two at a time, see above.)
        const counted = await f.h.app.store.sessions.countOnline({});
        const rows = (await f.h.app.store.sessions.listOnline({ first: 50 })).rows;
        const again = await f.h.app.store.sessions.countOnline({});
        if (counted !== rows.length) {
          assert.fail(
            `the online counters (${counted}, then ${again}) disagree with the online rows (${rows.length}: ${rows
              .map((s) => `${s.userName} ${s.id}`)
              .join(', ')}); ${await counterRows(f.h)}`,
          );
        }
        const r = await f.h.gql('{ onlineSessions(first: 10) { totalCount } }');
        assert.equal(r.status, 200);
        assert.equal((r.json.data?.onlineSessions as { totalCount: number }).totalCount, 3);
      });

      test('client mistakes log nothing at error level, and no token reaches a log', () => {
        const errors = f.h.logs
          .map((l) => JSON.parse(l) as { level: number; msg?: string; err?: { stack?: string } })
          .filter((l) => l.level >= 50);
        assert.deepEqual(
          errors.map((e) => `${e.msg} ${e.err?.stack?.split('\n')[0] ?? ''}`),
          [],
        );
        const corpusTokens = BAD_INPUT.map(
          (c) => /^Bearer (.+)$/.exec(c.request.headers?.authorization ?? '')?.[1] ?? '',
        ).filter((t) => t.length >= 8 && t !== '$READER');
        assertNoSecrets(f.h.logs, [f.h.admin, f.reader, ...corpusTokens], `bad-input suite (${store.name})`);
      });

      test('CONNECT is answered with a coded 405 and the connection closed (it was closed unanswered)', async () => {
        const reply = await rawExchange(f.h.url, `CONNECT ${new URL(f.h.url).host} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.ok(reply.closed, 'the connection is closed after the answer');
        const [head = '', body = ''] = reply.text.split('\r\n\r\n');
        assert.match(head, /^HTTP\/1\.1 405 /, reply.text.slice(0, 300));
        assert.match(head, /\r\nallow: GET, HEAD, POST\r\n/i);
        assert.match(head, /\r\nx-content-type-options: nosniff\r\n/i);
        assert.match(head, /\r\ncontent-type: application\/json/i);
        const json = JSON.parse(body) as { errors: { extensions: { code: string } }[] };
        assert.equal(json.errors[0]!.extensions.code, 'METHOD_NOT_ALLOWED');
        // The server keeps serving.
        assert.equal((await f.h.gql(VALID.query)).status, 200);
      });

      test('an SSE stream carries no Content-Encoding (graphql-sse said "none", no coding), and says not to buffer it', async () => {
        const url = new URL(f.h.url);
        const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
          const req = httpRequest(
            {
              host: url.hostname,
              port: url.port,
              method: 'POST',
              path: '/graphql/stream',
              agent: false,
              headers: {
                'content-type': 'application/json',
                accept: 'text/event-stream',
                authorization: `Bearer ${f.h.admin}`,
              },
            },
            (res) => {
              assert.equal(res.statusCode, 200);
              res.resume();
              res.on('end', () => resolve(res.headers));
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(VALID));
        });
        assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.equal(headers['content-encoding'], undefined, 'no Content-Encoding');
        assert.equal(headers['cache-control'], 'no-store');
        assert.equal(headers['x-accel-buffering'], 'no');
        assert.equal(headers['x-content-type-options'], 'nosniff');
      });

      test("an SSE stream whose client stops reading is closed and gives back its place among the token's streams", async () => {
        const openSse = () => openStreams(f.h, 'sse');
        assert.equal(await openSse(), 0, 'no stream open before');
        // Events of some 30 KB each (20 copies of a 1 500-byte user name), so the kernel's buffers
        // (some MB on loopback) and the stream's own bound fill in a few hundred events.
        const big = `slow-${'€'.repeat(500)}`;
        const copies = Array.from({ length: 19 }, (_, i) => `u${i}: name`).join(' ');
        const body = JSON.stringify({
          query: `subscription { sessionEvents(filter: { gatewayId: "gw-slow-reader" }) { session { user { name ${copies} } } } }`,
        });
        const url = new URL(f.h.url);
        const socket = connect(Number(url.port), url.hostname);
        let closed = false;
        socket.on('close', () => (closed = true));
        socket.on('error', () => {});
        socket.write(
          `POST /graphql/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${f.h.admin}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        // The stream is open once its first bytes (the status line) came; then the client reads no more.
        const first = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
        assert.match(first, /^HTTP\/1\.1 200 /);
        socket.pause();
        await waitFor(async () => (await openSse()) === 1 || undefined, 10_000, 'the stream counted');
        // Sessions connect and quit (two events each) until the stream is given up, or far past what
        // any buffer holds (400 pairs: some 24 MB of events).
        let pairs = 0;
        while (pairs < 400 && (await openSse()) === 1) {
          const reports = Array.from({ length: 10 }, () => slowGw.connect(big));
          for (const r of reports)
            await waitFor(
              async () => (await f.h.app.store.sessions.findByRef('gw-slow-reader', r.ref)) ?? undefined,
              10_000,
              'stored',
            );
          for (const r of reports) slowGw.quit(r.ref);
          await waitFor(
            async () => (await f.h.app.store.sessions.countOnline({ gatewayId: 'gw-slow-reader' })) === 0 || undefined,
            10_000,
            'quit',
          );
          pairs += reports.length;
        }
        assert.equal(await openSse(), 0, `the stream was given up (after ${pairs} sessions connected and quit)`);
        socket.destroy();
        await waitFor(async () => closed || undefined, 5000, 'client socket closed');
        // The token's next stream is served.
        const next = await overSse(f.h.url, f.h.admin, VALID);
        assert.equal(next.code, undefined, next.message);
        assert.ok(
          f.h.logs.some((l) => l.includes('SSE stream closed: its client stopped reading')),
          'a warning says why',
        );
      });

      test('an SSE answer larger than the slow-reader bound goes whole to a client that reads', async () => {
        // 200 sessions with 1 500-byte user names, each twenty times in the page: about 6 MB in one event,
        // more than the kernel takes at once on loopback (about 4 MB) and the bound (1 MiB) together.
        const big = `big-${'€'.repeat(500)}`;
        const reports = Array.from({ length: 200 }, () => slowGw.connect(big));
        try {
          await waitFor(
            async () =>
              (await f.h.app.store.sessions.countOnline({ gatewayId: 'gw-slow-reader' })) === 200 || undefined,
            10_000,
            'stored',
          );
          const copies = Array.from({ length: 19 }, (_, i) => `u${i}: name`).join(' ');
          const answer = await overSse(f.h.url, f.h.admin, {
            query: `{ onlineSessions(first: 200, filter: { gatewayId: "gw-slow-reader" }) { edges { node { user { name ${copies} } } } } }`,
          });
          assert.equal(answer.code, undefined, answer.message);
          assert.ok(answer.data, `the page came: ${answer.message.slice(0, 200)}`);
        } finally {
          for (const r of reports) slowGw.quit(r.ref);
          await waitFor(
            async () => (await f.h.app.store.sessions.countOnline({ gatewayId: 'gw-slow-reader' })) === 0 || undefined,
            10_000,
            'quit',
          );
        }
      });

      test('a WebSocket whose client stops reading is closed and gives back its place (it answers no ping)', async () => {
        const openWs = () => openStreams(f.h, 'ws');
        assert.equal(await openWs(), 0, 'no socket open before');
        const ws = new WebSocket(`${f.h.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
        ws.on('error', () => {});
        await new Promise<void>((resolve) => ws.once('open', () => resolve()));
        ws.send(JSON.stringify({ type: 'connection_init', payload: { token: f.h.admin } }));
        await new Promise<void>((resolve) =>
          ws.on('message', (m: Buffer) =>
            (JSON.parse(m.toString()) as { type: string }).type === 'connection_ack' ? resolve() : undefined,
          ),
        );
        ws.send(
          JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { sessionEvents { id } }' } }),
        );
        await waitFor(async () => (await openWs()) === 1 || undefined, 10_000, 'the socket counted');
        // The client reads nothing more: not the server's pings either.
        ws.pause();
        await waitFor(async () => (await openWs()) === 0 || undefined, 90_000, 'the socket given up');
        ws.resume();
        await closed;
      });

      test('a valid disconnect with the longest allowed reason and message still works', async () => {
        const r = await f.h.gql(
          'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome session { endReason } } }',
          {
            in: {
              sessionId: f.sessions[2],
              reason: `${'r'.repeat(499)}\n${'r'.repeat(500)}`,
              message: 'm'.repeat(240),
            },
          },
        );
        assert.equal(r.status, 200, r.text);
        const payload = r.json.data?.disconnectSession as { outcome: string; session: { endReason: string } };
        assert.equal(payload.outcome, 'DISCONNECTED');
        assert.equal(payload.session.endReason.length, 1000, 'the reason is kept whole, its newline too');
      });
    });
  }
});

/** The streams of `transport` open on the server, as its metrics say. */
async function openStreams(h: AppHarness, transport: 'ws' | 'sse'): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.admin}` } })).text();
  return Number(
    new RegExp(`^switchboard_api_open_streams\\{transport="${transport}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN,
  );
}

/** Sends `request` on a raw socket; resolves with all the server wrote once it closed (or after 10 s). */
function rawExchange(base: string, request: string): Promise<{ text: string; closed: boolean }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 10_000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}

/** For a failure message: every session row, the counter rows and (PostgreSQL) the staged changes, as the database holds them. */
async function counterRows(h: AppHarness): Promise<string> {
  const db = kysely(h.app.store).db;
  const sessions = await sql`select id, ref, gateway_id, ended_at, end_cause from sessions order by id`.execute(db);
  const counts = await sql`select * from session_online_counts where n <> 0 or shard >= 16`.execute(db);
  const parts = [`sessions ${JSON.stringify(sessions.rows)}`, `counters ${JSON.stringify(counts.rows)}`];
  if (h.app.store.dialect === 'postgres') {
    const staged = await sql`select * from session_online_count_changes`.execute(db);
    parts.push(`staged ${JSON.stringify(staged.rows)}`);
  }
  return parts.join('; ');
}
