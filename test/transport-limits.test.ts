/**
 * Limits on every transport, against a real server with real graphql-ws and SSE clients: the rate
 * limits count WebSocket operations, SSE requests and failed authentications; each cap is refused
 * with its code; bodies are limited whether chunked or not; and the HTTP hygiene rules.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';
import { openWsSession } from './support/ws-session.js';

const EVENTS = 'subscription { sessionEvents { type } }';
const BOUND_MS = 10_000;

async function mint(h: AppHarness, scopes: string[]): Promise<string> {
  return h.token(scopes, `t-${Math.random().toString(36).slice(2, 8)}`);
}

/** A raw WebSocket upgrade: the HTTP answer when the server refuses it before the handshake. */
function refusedUpgrade(url: string): Promise<{ status: number; body: string } | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

/** One request on its own connection (no pooling), raw header lines allowed. */
function rawRequest(url: string, head: string, body = ''): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.end(`${head}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`),
    );
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [headers = '', rest = ''] = text.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1] ?? 0),
        headers: headers.toLowerCase(),
        body: rest,
      });
    });
  });
}

/**
 * POSTs a chunked body of up to `totalMiB` MiB (never declaring its length), one MiB at a time,
 * until the server answers; resolves with the answer and how much was sent.
 */
function chunkedUpload(
  url: string,
  path: string,
  token: string,
  totalMiB: number,
  accept = 'application/json',
): Promise<{ status: number; body: string; sentMiB: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    let answered = false;
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          accept,
          authorization: `Bearer ${token}`,
          'transfer-encoding': 'chunked',
        },
      },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body, sentMiB: sent });
        });
      },
    );
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.write('{"query":"{ viewer { name } }","x":"');
    const pump = () => {
      while (!answered && sent < totalMiB) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end('"}');
    };
    pump();
  });
}

describe('rate limits count WebSocket operations and SSE requests', () => {
  let h: AppHarness;
  before(async () => {
    // 3 requests at once per token, then about one per 100 s: nothing refills during the test.
    h = await startApp({ env: { SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0.01:3' } });
  });
  after(() => h?.close());

  test("on one socket, the operations past the token's burst are refused RATE_LIMITED", async () => {
    const t = await mint(h, ['sessions:read']);
    const s = await openWsSession(h.url, t); // connection_init: 1 of 3
    try {
      const codes: (string | null)[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await s.run('{ viewer { name } }');
        codes.push(r.errors ? String(r.errors[0]?.extensions?.code) : r.data ? 'ok' : null);
      }
      assert.deepEqual(codes, ['ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    } finally {
      await s.dispose();
    }
  });

  test('SSE requests count like HTTP requests: the fourth gets 429 RATE_LIMITED', async () => {
    const t = await mint(h, ['sessions:read']);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const sub = await sseSubscribe(h.url, '{ viewer { name } }', {}, t);
      await waitFor(() => sub.completed || sub.errors.length > 0, BOUND_MS, 'the SSE answer');
      statuses.push(sub.status!);
      if (i === 3) assert.match(String(sub.errors[0]), /"code":"RATE_LIMITED"/);
      await sub.close();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });
});

describe('failed authentications count on every transport', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp({ env: { SWITCHBOARD_RATE_LIMIT_PER_IP: '0.01:4' } });
  });
  after(() => h?.close());

  test('bad-token guesses over SSE, then WebSocket, run into 429 RATE_LIMITED', async () => {
    const guess = `sbt_aaaaaaaa_${'b'.repeat(40)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const sub = await sseSubscribe(h.url, EVENTS, {}, guess);
      statuses.push(sub.status!);
      await sub.close();
    }
    const ws = await wsSubscribe(h.url, EVENTS, {}, { token: guess });
    assert.equal(ws.closeCode, 4403, 'the fourth attempt is let in and refused for its token');
    await ws.close();
    const sse = await sseSubscribe(h.url, EVENTS, {}, guess);
    statuses.push(sse.status!);
    assert.match(String(sse.errors[0]), /"code":"RATE_LIMITED"/);
    await sse.close();
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const upgrade = await refusedUpgrade(h.url);
    assert.ok(upgrade !== 'open');
    assert.equal(upgrade.status, 429);
    assert.equal(
      (JSON.parse(upgrade.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
      'RATE_LIMITED',
    );
    const metrics = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${guess}` } });
    assert.equal(metrics.status, 429, 'the token check of /metrics counts too');
    assert.equal(
      ((await metrics.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
      'RATE_LIMITED',
    );
  });
});

describe('caps on subscriptions per socket and streams per token', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp({
      env: { SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_SOCKET: '2', SWITCHBOARD_MAX_STREAMS_PER_TOKEN: '2' },
    });
  });
  after(() => h?.close());

  test('a third subscription on one socket is refused TOO_MANY_SUBSCRIPTIONS; the first two go on', async () => {
    const t = await mint(h, ['sessions:read']);
    const s = await openWsSession(h.url, t);
    try {
      const outcomes: unknown[] = [];
      for (let i = 0; i < 2; i++) void s.run(EVENTS).then((r) => outcomes.push(r));
      const third = await s.run(EVENTS);
      assert.equal(third.errors?.[0]?.extensions?.code, 'TOO_MANY_SUBSCRIPTIONS', JSON.stringify(third));
      const viewer = await s.run('{ viewer { name } }');
      assert.equal(
        viewer.errors?.[0]?.extensions?.code,
        'TOO_MANY_SUBSCRIPTIONS',
        'queries count while two subscriptions run',
      );
      assert.deepEqual(outcomes, [], 'the first two are still running');
    } finally {
      await s.dispose();
    }
  });

  test("a token's third stream is refused: TOO_MANY_STREAMS as close 4429 and as HTTP 429; a closed one frees its place", async () => {
    const t = await mint(h, ['sessions:read']);
    const first = await wsSubscribe(h.url, EVENTS, {}, { token: t });
    const second = await sseSubscribe(h.url, EVENTS, {}, t);
    try {
      assert.deepEqual([first.closeCode, second.status], [null, 200]);
      let reason = '';
      const ws = new WebSocket(`${h.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token: t } })));
      const code = await new Promise<number>((resolve) =>
        ws.on('close', (c, r) => ((reason = r.toString()), resolve(c))),
      );
      assert.deepEqual([code, reason], [4429, 'TOO_MANY_STREAMS']);
      const sse = await sseSubscribe(h.url, EVENTS, {}, t);
      assert.equal(sse.status, 429);
      assert.match(String(sse.errors[0]), /"code":"TOO_MANY_STREAMS"/);
      await sse.close();
      await first.close();
      const again = await waitFor(
        async () => {
          const s = await sseSubscribe(h.url, EVENTS, {}, t);
          if (s.status === 200) return s;
          await s.close();
          return null;
        },
        BOUND_MS,
        'the freed place',
      );
      await again.close();
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});

describe('a cap on connections in total', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp({ env: { SWITCHBOARD_MAX_CONNECTIONS: '3' } });
  });
  after(() => h?.close());

  test('the fourth connection gets 503 TOO_MANY_CONNECTIONS; once one closes, the server serves again', async () => {
    const sockets = await Promise.all([0, 1, 2].map(() => openWsSession(h.url, h.admin)));
    try {
      assert.ok(sockets.every((s) => s.acknowledged));
      const refused = await rawRequest(h.url, 'GET /healthz HTTP/1.1\r\nhost: x');
      assert.equal(refused.status, 503);
      assert.equal(
        (JSON.parse(refused.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
        'TOO_MANY_CONNECTIONS',
      );
      await sockets[0]!.dispose();
      await waitFor(
        async () => (await rawRequest(h.url, 'GET /healthz HTTP/1.1\r\nhost: x')).status === 200,
        BOUND_MS,
        'a free connection',
      );
    } finally {
      await Promise.all(sockets.map((s) => s.dispose()));
    }
  });
});

describe('bodies and HTTP hygiene', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp();
  });
  after(() => h?.close());

  for (const [path, accept] of [
    ['/graphql', 'application/json'],
    ['/graphql/stream', 'text/event-stream'],
  ] as const) {
    test(`a chunked upload far over the limit to ${path} gets 413 PAYLOAD_TOO_LARGE early, and the server keeps serving`, async () => {
      // The server closes the connection after its 413 while the client is still writing; the kernel
      // may then reset it before the client read the answer (HTTP/1.1's lingering-close race). Such an
      // attempt is repeated; every answer that does arrive must be the 413.
      let r: Awaited<ReturnType<typeof chunkedUpload>> | null = null;
      for (let attempt = 0; r === null && attempt < 5; attempt++) {
        r = await chunkedUpload(h.url, path, h.admin, 600, accept).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return null;
          throw e;
        });
      }
      assert.ok(r !== null, 'an answer arrived');
      assert.equal(r.status, 413);
      assert.equal(
        (JSON.parse(r.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
        'PAYLOAD_TOO_LARGE',
      );
      assert.ok(r.sentMiB < 600, `refused before the whole upload (${r.sentMiB} MiB sent)`);
      const ok = await h.gql('{ viewer { name } }');
      assert.deepEqual(ok.json, { data: { viewer: { name: 'bootstrap-admin' } } });
    });
  }

  test('API answers say Cache-Control: no-store (success, refusal, SSE)', async () => {
    const ok = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.admin}` },
      body: '{"query":"{ viewer { name } }"}',
    });
    const refused = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ viewer { name } }"}',
    });
    const sse = await fetch(`${h.url}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${h.admin}` },
      body: '{"query":"{ viewer { name } }"}',
    });
    assert.deepEqual([ok.status, refused.status, sse.status], [200, 401, 200]);
    for (const r of [ok, refused, sse]) {
      assert.equal(r.headers.get('cache-control'), 'no-store');
      await r.text();
    }
  });

  test('two Authorization headers are refused with 400 BAD_REQUEST on /graphql and /graphql/stream', async () => {
    for (const path of ['/graphql', '/graphql/stream']) {
      const r = await rawRequest(
        h.url,
        `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\naccept: text/event-stream\r\nauthorization: Bearer ${h.admin}\r\nauthorization: Bearer sbt_aaaaaaaa_${'b'.repeat(40)}`,
        '{"query":"{ viewer { name } }"}',
      );
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.equal(
        (JSON.parse(r.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
        'BAD_REQUEST',
      );
    }
  });

  test('two Content-Type headers, or a GET parameter given twice, are refused with 400 BAD_REQUEST on /graphql and /graphql/stream; nothing runs', async () => {
    // Node keeps the first Content-Type, graphql-http and graphql-sse the first ?query=; a proxy may keep the last.
    const tokens = async () => ((await h.gql('{ tokens { id } }')).json.data?.tokens as unknown[]).length;
    const before = await tokens();
    const create = JSON.stringify({
      query: 'mutation { createToken(input: { name: "smuggled", scopes: ["admin"] }) { secret } }',
    });
    const get = (q: string) => `query=${encodeURIComponent(q)}`;
    const cases: [string, string, string, RegExp][] = [];
    for (const path of ['/graphql', '/graphql/stream']) {
      const head = `host: x\r\naccept: text/event-stream, application/json\r\nauthorization: Bearer ${h.admin}`;
      cases.push(
        [
          `POST ${path}`,
          `${head}\r\ncontent-type: application/json\r\ncontent-type: text/plain`,
          create,
          /^Send one Content-Type header/,
        ],
        [
          `GET ${path}?${get('{ viewer { name } }')}&${get('{ tokens { id } }')}`,
          head,
          '',
          /^Give the query parameter once/,
        ],
        [
          `GET ${path}?${get('query A { viewer { name } } query B { tokens { id } }')}&operationName=A&operationName=B`,
          head,
          '',
          /^Give the operationName parameter once/,
        ],
      );
    }
    for (const [line, headers, body, message] of cases) {
      const r = await rawRequest(h.url, `${line} HTTP/1.1\r\n${headers}`, body);
      assert.equal(r.status, 400, `${line}: ${r.body}`);
      const error = (JSON.parse(r.body) as { errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
      assert.equal(error.extensions.code, 'BAD_REQUEST', line);
      assert.match(error.message, message, line);
    }
    assert.equal(await tokens(), before, 'no token was created');
  });

  test('SSE refusals of graphql-sse itself carry extensions.code', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${h.url}/graphql/stream`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${h.admin}`,
          ...headers,
        },
        body,
      });
    const cases: [Response, number, string][] = [
      [await post('{not json'), 400, 'BAD_REQUEST'],
      [await post('{"variables":{}}'), 400, 'BAD_REQUEST'],
      [await post('{"query":"{ viewer { name } }"}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ];
    for (const [r, status, code] of cases) {
      const body = (await r.json()) as { errors: { message: string; extensions: { code: string } }[] };
      assert.equal(r.status, status);
      assert.ok(body.errors.length > 0 && body.errors.every((e) => e.extensions.code === code), JSON.stringify(body));
    }
  });

  test("an operationName missing from the document: BAD_USER_INPUT as over HTTP (refused before graphql-ws's own refusal), not logged as an error", async () => {
    const r = await new Promise<unknown>((resolve) => {
      const ws = new WebSocket(`${h.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token: h.admin } })));
      ws.on('message', (m) => {
        const msg = JSON.parse(m.toString()) as { type: string; payload?: unknown };
        if (msg.type === 'connection_ack')
          ws.send(
            JSON.stringify({
              id: '1',
              type: 'subscribe',
              payload: { query: 'query A { viewer { name } }', operationName: 'B' },
            }),
          );
        if (msg.type === 'error') {
          ws.close();
          resolve(msg.payload);
        }
      });
    });
    assert.deepEqual(r, [{ message: 'Unknown operation named "B"', extensions: { code: 'BAD_USER_INPUT' } }]);
    assert.ok(!h.logs.some((l) => (JSON.parse(l) as { level: number }).level >= 50), 'nothing at error level');
  });

  test('an upload the client aborts is a debug line, not an error with a stack', async () => {
    const { hostname, port } = new URL(h.url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${h.admin}\r\ncontent-length: 100000\r\n\r\n{"query":`,
        );
        setImmediate(() => socket.destroy());
      });
      socket.on('close', () => resolve());
    });
    await waitFor(() => h.logs.some((l) => l.includes('request aborted by the client')), BOUND_MS, 'the debug line');
    const line = JSON.parse(h.logs.find((l) => l.includes('request aborted by the client'))!) as {
      level: number;
      err?: unknown;
    };
    assert.equal(line.level, 20);
    assert.equal(line.err, undefined);
    assert.ok(!h.logs.some((l) => (JSON.parse(l) as { level: number }).level >= 50), 'nothing at error level');
  });

  test('requests node:http refuses before reading them get a coded JSON error: 431 HEADERS_TOO_LARGE, 400 BAD_REQUEST; the server serves', async () => {
    const { hostname, port } = new URL(h.url);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const socket = connect(Number(port), hostname, () => socket.write(text));
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('error', () => {});
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
    const cases: [string, number, string][] = [
      [`GET /graphql?query=${'%20'.repeat(7000)}{viewer{name}} HTTP/1.1\r\nhost: x\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      [`POST /graphql HTTP/1.1\r\nhost: x\r\nx-filler: ${'f'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['BLAH\r\n\r\n', 400, 'BAD_REQUEST'],
      ['GET /graphql HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n', 400, 'BAD_REQUEST'],
    ];
    for (const [request, status, code] of cases) {
      const answer = await raw(request);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1.1 ${status} `), answer.slice(0, 200));
      assert.match(head, /content-type: application\/json/);
      assert.deepEqual(
        (JSON.parse(body) as { errors: { extensions: { code: string } }[] }).errors.map((e) => e.extensions.code),
        [code],
      );
    }
    const r = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.admin}` },
      body: JSON.stringify({ query: '{ viewer { name } }' }),
    });
    assert.equal(r.status, 200);
  });

  test('a WebSocket frame over 256 KiB, before or after connection_init: closed with 1009, a debug line and no stack on stderr; the server serves', async () => {
    const printed: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void printed.push(args);
    try {
      for (const init of [false, true]) {
        const code = await new Promise<number>((resolve) => {
          const ws = new WebSocket(`${h.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
          const big = () =>
            ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `#${'x'.repeat(300_000)}` } }));
          ws.on('open', () => {
            if (!init) return big();
            ws.send(JSON.stringify({ type: 'connection_init', payload: { token: h.admin } }));
          });
          ws.on('message', (m) => {
            if ((JSON.parse(m.toString()) as { type: string }).type === 'connection_ack') big();
          });
          ws.on('error', () => {});
          ws.on('close', (c) => resolve(c));
        });
        assert.equal(code, 1009, `closed as too big (${init ? 'after' : 'before'} connection_init)`);
      }
      await waitFor(
        () => h.logs.filter((l) => l.includes('the client sent an invalid frame')).length === 2,
        BOUND_MS,
        'two debug lines',
      );
      assert.deepEqual(printed, [], 'nothing written around the JSON log');
      assert.ok(!h.logs.some((l) => (JSON.parse(l) as { level: number }).level >= 40), 'nothing at warn or error');
      const session = await openWsSession(h.url, h.admin);
      try {
        const reply = await session.run('{ viewer { name } }');
        assert.deepEqual(reply.data, { viewer: { name: 'bootstrap-admin' } });
      } finally {
        await session.dispose();
      }
    } finally {
      console.error = consoleError;
    }
  });
});

/** A raw graphql-transport-ws socket, acknowledged: send any message, read each answer by operation id. */
async function rawSocket(url: string, token: string) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const answers = new Map<string, { type: string; payload?: { extensions?: { code?: string }; message?: string }[] }>();
  const waiting = new Map<string, () => void>();
  ws.on('message', (m) => {
    const msg = JSON.parse(m.toString()) as { id?: string; type: string; payload?: never };
    if (msg.id === undefined) return;
    answers.set(msg.id, msg);
    waiting.get(msg.id)?.();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token } })));
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    /** Subscribes; resolves with the code of its `error`, or 'running' once no error came in `waitMs`. */
    subscribe(id: string, query: string, waitMs = 300): Promise<string | undefined> {
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
      return new Promise((resolve) => {
        const settle = () => {
          const a = answers.get(id);
          resolve(a?.type === 'error' ? a.payload?.[0]?.extensions?.code : a ? a.type : 'running');
        };
        waiting.set(id, settle);
        setTimeout(settle, waitMs);
      });
    },
    complete: (id: string) => ws.send(JSON.stringify({ id, type: 'complete' })),
    close: () => ws.close(),
  };
}

describe('what one WebSocket may hold', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp();
  });
  after(() => h?.close());

  test('an operation id over 128 characters is refused BAD_REQUEST; one of 128 runs', async () => {
    const s = await rawSocket(h.url, h.admin);
    try {
      assert.equal(await s.subscribe('i'.repeat(129), '{ viewer { name } }'), 'BAD_REQUEST');
      assert.equal(await s.subscribe('i'.repeat(128), '{ viewer { name } }'), 'next');
    } finally {
      s.close();
    }
  });

  test('running operations may hold 1 MiB of documents and ids per socket: past it TOO_MANY_SUBSCRIPTIONS; an ended one gives its share back', async () => {
    const s = await rawSocket(h.url, h.admin);
    // Each a live subscription of 250 000 characters (a comment): four fit in 1 MiB, a fifth does not.
    const big = `subscription { sessionEvents { type } } #${'c'.repeat(250_000)}`;
    try {
      for (let i = 0; i < 4; i++) assert.equal(await s.subscribe(`s${i}`, big), 'running', `subscription ${i}`);
      assert.equal(await s.subscribe('s4', big), 'TOO_MANY_SUBSCRIPTIONS');
      assert.equal(await s.subscribe('small', '{ viewer { name } }'), 'next', 'a small operation still fits');
      s.complete('s0');
      await waitFor(
        async () => (await s.subscribe(`again-${Math.random()}`, big)) === 'running',
        BOUND_MS,
        'room again',
      );
    } finally {
      s.close();
    }
  });
});

describe('requests with an Upgrade header that is not served', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp();
  });
  after(() => h?.close());

  /** The raw answer to `head` (a request without a body), headers in lower case. */
  function rawAnswer(head: string): Promise<{ status: number; headers: string; body: string }> {
    const url = new URL(h.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write(head));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
      socket.on('close', () => {
        const [headers = '', body = ''] = text.split('\r\n\r\n');
        resolve({
          status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0),
          headers: headers.toLowerCase(),
          body,
        });
      });
      socket.on('error', reject);
    });
  }

  const ws =
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const CASES: [string, string, number, string][] = [
    [
      'curl --http2 on /healthz (Upgrade: h2c)',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
      400,
      'BAD_REQUEST',
    ],
    [
      'curl --http2 on /graphql (Upgrade: h2c)',
      `GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n`,
      400,
      'BAD_REQUEST',
    ],
    [
      'a WebSocket to an unknown path',
      `GET /nope HTTP/1.1\r\nHost: x\r\n${ws}Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
      404,
      'NOT_FOUND',
    ],
    [
      'a WebSocket without the graphql-transport-ws subprotocol',
      `GET /graphql HTTP/1.1\r\nHost: x\r\n${ws}\r\n`,
      400,
      'BAD_REQUEST',
    ],
  ];
  for (const [name, head, status, code] of CASES) {
    test(`${name}: ${status} ${code} as JSON with nosniff, not a bare status line`, async () => {
      const a = await rawAnswer(head);
      assert.equal(a.status, status, a.headers);
      assert.match(a.headers, /\r\ncontent-type: application\/json; charset=utf-8\r\n/);
      assert.match(a.headers, /\r\nx-content-type-options: nosniff\r\n/);
      const json = JSON.parse(a.body) as { errors: { message: string; extensions: { code: string } }[] };
      assert.equal(json.errors[0]!.extensions.code, code);
      assert.ok(json.errors[0]!.message.length > 20, json.errors[0]!.message);
    });
  }
});
