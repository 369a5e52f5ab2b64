/**
 * Request ids on every transport, on both stores: the client's `x-request-id` is taken when sane
 * and replaced when not, echoed in the answer (the WebSocket upgrade's too), bound to the log lines
 * of the request (core's included) and stored with the audit rows the request wrote — a settlement
 * that comes later, from the daemon's report, included — where a filter finds them again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { AuditEvent } from '../src/domain/audit.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { databaseFor, postgresSkipReason } from './support/postgres.js';
import { waitFor } from './support/wait.js';

const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  sessionId?: string;
}

/** One POST /graphql with the given extra headers; the answer's status, `x-request-id` and body. */
async function post(h: AppHarness, body: object, headers: Record<string, string> = {}, path = '/graphql') {
  const res = await fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.admin}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, requestId: res.headers.get('x-request-id'), text: await res.text() };
}

/**
 * A bare graphql-transport-ws socket (the `ws` client, so the upgrade's answer headers can be read):
 * resolves with those headers and a function that runs one operation and resolves with its messages.
 */
async function openSocket(h: AppHarness, requestId?: string) {
  const ws = new WebSocket(
    `${h.url.replace(/^http/, 'ws')}/graphql`,
    'graphql-transport-ws',
    requestId ? { headers: { 'x-request-id': requestId } } : {},
  );
  const upgrade = new Promise<Record<string, string | string[] | undefined>>((resolve) =>
    ws.once('upgrade', (res) => resolve(res.headers)),
  );
  const messages: { type: string; id?: string; payload?: unknown }[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as (typeof messages)[number]);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { token: h.admin } }));
  const until = async (ok: () => boolean) => {
    while (!ok()) await new Promise<void>((r) => waiters.push(r));
  };
  await until(() => messages.some((m) => m.type === 'connection_ack'));
  let n = 0;
  return {
    headers: await upgrade,
    async run(query: string, variables: object, extensions?: object) {
      const id = `op${++n}`;
      ws.send(
        JSON.stringify({ type: 'subscribe', id, payload: { query, variables, ...(extensions ? { extensions } : {}) } }),
      );
      await until(() => messages.some((m) => m.id === id && (m.type === 'complete' || m.type === 'error')));
      return messages.filter((m) => m.id === id);
    },
    close: () => ws.close(),
  };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`request ids (${dialect})`, { skip: dialect === 'postgres' ? await postgresSkipReason() : false }, () => {
    const gw = new FakeAdapter({ id: `gw-rid-${randomBytes(3).toString('hex')}` });
    let h: AppHarness;
    let drop: () => Promise<void> = async () => {};

    before(async () => {
      const db = dialect === 'postgres' ? await databaseFor('postgres') : null;
      if (db) drop = db.drop;
      h = await startApp({ adapters: [gw], databaseUrl: db?.url, env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '400' } });
    });
    after(async () => {
      await h.close();
      await drop();
    });

    const online = async (user: string) => {
      const r = gw.connect(user);
      return {
        ref: r.ref,
        id: await waitFor(
          async () => (await h.app.store.sessions.findByRef(gw.config.id, r.ref))?.id,
          5000,
          'session stored',
        ),
      };
    };
    const rowsOf = async (requestId: string): Promise<AuditEvent[]> =>
      (await h.app.store.audit.list({ first: 50, filter: { requestId } })).rows;
    const logLines = () => h.logs.map((l) => JSON.parse(l) as LogLine);

    test("HTTP: a sane id is kept and echoed; the log lines of the request, core's included, carry it; so do its audit rows, the later settlement included", async () => {
      const s = await online('rid-http');
      const requestId = `ops-${randomBytes(6).toString('hex')}`;
      gw.state = 'stalled';
      const r = await post(h, { query: DISCONNECT, variables: { id: s.id } }, { 'x-request-id': requestId });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.requestId, requestId);
      // The daemon acts late; the session's end is settled from its report, as the operator's.
      gw.resume();
      const rows = await waitFor(
        async () => {
          const found = await rowsOf(requestId);
          return found.some((e) => e.outcome === 'SUCCESS') ? found : null;
        },
        10_000,
        'the late settlement',
      );
      assert.deepEqual(rows.map((e) => e.outcome).sort(), ['PENDING', 'SUCCESS']);
      assert.ok(
        rows.every((e) => e.requestId === requestId && e.targetSessionId === s.id && e.action === 'session.disconnect'),
      );

      const lines = logLines();
      const mine = lines.filter((l) => l.requestId === requestId);
      assert.ok(
        mine.some((l) => l.msg === 'request'),
        'the request line carries the id',
      );
      assert.ok(
        mine.some((l) => l.msg.startsWith('disconnect not confirmed')),
        "core's line about the request carries the id",
      );
      const aboutIt = lines.filter((l) => l.sessionId === s.id && l.msg.startsWith('disconnect'));
      assert.ok(
        aboutIt.length > 0 && aboutIt.every((l) => l.requestId === requestId),
        'every disconnect line about the session names the request',
      );

      // The API finds the rows by the id too.
      const q = await h.gql(
        'query ($r: String!) { auditEvents(filter: { requestId: $r }) { totalCount edges { node { requestId outcome } } } }',
        { r: requestId },
      );
      assert.equal((q.json.data?.auditEvents as { totalCount: number }).totalCount, 2, q.text);
    });

    test('HTTP: a missing, malformed, too long or repeated x-request-id is replaced by a new one, never refused', async () => {
      const query = { query: '{ viewer { name } }' };
      const seen = new Set<string>();
      for (const headers of [
        {} as Record<string, string>,
        { 'x-request-id': 'has space' },
        { 'x-request-id': 'x'.repeat(129) },
        { 'x-request-id': 'a\u00e9b' },
      ]) {
        const r = await post(h, query, headers);
        assert.equal(r.status, 200, r.text);
        assert.match(r.requestId ?? '', UUID);
        seen.add(r.requestId!);
      }
      assert.equal(seen.size, 4, 'each request has its own id');
      assert.equal((await post(h, query, { 'x-request-id': 'x'.repeat(128) })).requestId, 'x'.repeat(128));
      const probe = await fetch(`${h.url}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
      assert.equal(probe.headers.get('x-request-id'), 'probe-1', 'every answer carries it');
      const refused = await post(h, query, { authorization: 'Bearer nope', 'x-request-id': 'refused-1' });
      assert.equal(refused.status, 401);
      assert.equal(refused.requestId, 'refused-1');
    });

    test('HTTP: a made id is stored like a given one', async () => {
      const s = await online('rid-made');
      gw.state = 'up';
      const r = await post(h, { query: DISCONNECT, variables: { id: s.id } });
      assert.equal(r.status, 200, r.text);
      assert.match(r.requestId ?? '', UUID);
      assert.deepEqual((await rowsOf(r.requestId!)).map((e) => e.outcome).sort(), ['PENDING', 'SUCCESS']);
    });

    test("SSE: the stream request's id is echoed and stored with what its operation wrote", async () => {
      const s = await online('rid-sse');
      gw.state = 'up';
      const requestId = `sse-${randomBytes(6).toString('hex')}`;
      const r = await post(
        h,
        { query: DISCONNECT, variables: { id: s.id } },
        { accept: 'text/event-stream', 'x-request-id': requestId },
        '/graphql/stream',
      );
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /"disconnectBySessionId":true/);
      assert.equal(r.requestId, requestId);
      assert.deepEqual((await rowsOf(requestId)).map((e) => e.outcome).sort(), ['PENDING', 'SUCCESS']);
    });

    test("WebSocket: the upgrade's id is echoed; each operation has its own: the client's sane extensions.requestId, else <connection id>.<n>", async () => {
      const connectionId = `ws-${randomBytes(6).toString('hex')}`;
      const socket = await openSocket(h, connectionId);
      try {
        assert.equal(socket.headers['x-request-id'], connectionId);
        gw.state = 'up';
        const a = await online('rid-ws-a');
        const b = await online('rid-ws-b');
        const given = `${connectionId}-given`;
        const first = await socket.run(DISCONNECT, { id: a.id }, { requestId: given });
        assert.match(JSON.stringify(first), /"disconnectBySessionId":true/);
        const second = await socket.run(DISCONNECT, { id: b.id });
        assert.match(JSON.stringify(second), /"disconnectBySessionId":true/);
        const third = await socket.run(DISCONNECT, { id: b.id }, { requestId: 'not sane!' });
        assert.match(JSON.stringify(third), /SESSION_NOT_FOUND/);
        assert.deepEqual((await rowsOf(given)).map((e) => `${e.targetSessionId} ${e.outcome}`).sort(), [
          `${a.id} PENDING`,
          `${a.id} SUCCESS`,
        ]);
        assert.deepEqual((await rowsOf(`${connectionId}.2`)).map((e) => `${e.targetSessionId} ${e.outcome}`).sort(), [
          `${b.id} PENDING`,
          `${b.id} SUCCESS`,
        ]);
        const refused = await h.app.store.audit.list({
          first: 10,
          filter: { targetSessionId: b.id, outcome: 'NOT_FOUND' },
        });
        assert.equal(refused.rows.length, 1);
        assert.equal(refused.rows[0]!.requestId, `${connectionId}.3`, "an insane id is replaced by the connection's");
      } finally {
        socket.close();
      }
    });
  });
}
