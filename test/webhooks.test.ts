/**
 * Webhooks end to end: the whole Switchboard (gateway doubles for the sessions, a real HTTP receiver
 * on loopback), short retry delays through the environment.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { quietPeriod, waitFor } from './support/wait.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver whose answer each test decides; it records every request it gets. */
class Receiver {
  readonly got: Received[] = [];
  answer: (req: Received, res: ServerResponse) => void = (_r, res) => res.writeHead(204).end();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const r = { headers: req.headers, body };
        this.got.push(r);
        this.answer(r, res);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The receiver's side of the signature, as docs/events-and-webhooks.md shows it. */
function verify(secret: string, header: string, body: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const CREATE = `mutation ($in: CreateWebhookInput!) { createWebhook(input: $in) { secret webhook { id url events description createdBy } } }`;
const DELIVERIES = `query ($id: String!) { webhookDeliveries(webhookId: $id) { id eventId eventType status payload attempts { attempt statusCode error durationMs } } }`;

describe('webhooks', () => {
  let h: AppHarness;
  let gw: FakeAdapter;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = new Receiver();
    await r.start();
    receivers.push(r);
    return r;
  };
  const create = async (url: string, events: string[]) => {
    const r = await h.gql(CREATE, { in: { url, events, description: 'test' } });
    assert.equal(r.status, 200, r.text);
    return r.json.data!.createWebhook as {
      secret: string;
      webhook: { id: string; url: string; events: string[]; createdBy: string };
    };
  };
  const deliveries = async (id: string) => {
    const r = await h.gql(DELIVERIES, { id });
    assert.equal(r.status, 200, r.text);
    return r.json.data!.webhookDeliveries as {
      eventId: string;
      eventType: string;
      status: string;
      payload: string;
      attempts: { attempt: number; statusCode: number | null; error: string | null }[];
    }[];
  };
  const deleteAll = async () => {
    const list = await h.gql('{ webhooks { id } }');
    for (const w of list.json.data!.webhooks as { id: string }[])
      await h.gql('mutation ($id: String!) { deleteWebhook(id: $id) { id } }', { id: w.id });
  };

  before(async () => {
    gw = new FakeAdapter({ id: 'gw-hooks' });
    h = await startApp({
      adapters: [gw],
      env: {
        SWITCHBOARD_WEBHOOK_POLL_MS: '20',
        SWITCHBOARD_WEBHOOK_BACKOFF_MS: '50',
        SWITCHBOARD_WEBHOOK_BACKOFF_CAP_MS: '200',
        SWITCHBOARD_WEBHOOK_TIMEOUT_MS: '60000',
      },
    });
  });
  after(async () => {
    await h?.close();
    await Promise.all(receivers.map((r) => r.stop()));
  });

  test('a signed delivery per event; the receiver verifies the signature; the message is in the payload', async () => {
    const rx = await receiver();
    const { secret, webhook } = await create(rx.url, ['SESSION_CONNECTED', 'SESSION_DISCONNECTED']);
    assert.match(secret, /^whsec_[a-z0-9]{40}$/);
    assert.deepEqual(
      { ...webhook, id: undefined },
      {
        id: undefined,
        url: rx.url,
        events: ['SESSION_CONNECTED', 'SESSION_DISCONNECTED'],
        description: 'test',
        createdBy: 'bootstrap-admin',
      },
    );
    const report = gw.connect('alice', { clientAddress: '203.0.113.9:5000', virtualAddress: '10.8.0.9' });
    await h.settle();
    const session = (await h.app.store.sessions.findByRef('gw-hooks', report.ref))!;
    const r = await h.gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "abuse", message: "Contact support" }) { outcome } }',
      { id: session.id },
    );
    assert.equal(r.status, 200, r.text);
    await waitFor(() => rx.got.length >= 2, 10_000, 'two deliveries');
    for (const got of rx.got) {
      assert.ok(verify(secret, String(got.headers['switchboard-signature']), got.body), 'signature verifies');
      assert.ok(
        !verify('whsec_wrong', String(got.headers['switchboard-signature']), got.body),
        'a wrong secret does not',
      );
      assert.ok(
        !verify(secret, String(got.headers['switchboard-signature']), got.body.replace('alice', 'mallory')),
        'a changed body does not',
      );
    }
    const bodies = rx.got.map((g) => JSON.parse(g.body) as Record<string, unknown>);
    assert.deepEqual(
      bodies.map((b) => b.type),
      ['session.connected', 'session.disconnected'],
    );
    const ended = bodies[1]!;
    assert.deepEqual(
      {
        ...ended,
        id: undefined,
        at: undefined,
        session: { ...(ended.session as object), connectedAt: undefined, endedAt: undefined },
      },
      {
        id: undefined,
        at: undefined,
        type: 'session.disconnected',
        session: {
          id: session.id,
          user: { id: session.userId, name: 'alice' },
          gatewayId: 'gw-hooks',
          clientAddress: '203.0.113.9:5000',
          virtualAddress: '10.8.0.9',
          virtualAddress6: null,
          connectedAt: undefined,
          endedAt: undefined,
          cause: 'ADMIN_DISCONNECT',
        },
        actor: { tokenId: (ended.actor as { tokenId: string }).tokenId, name: 'bootstrap-admin' },
        reason: 'abuse',
        message: 'Contact support',
      },
    );
    assert.equal(rx.got[1]!.headers['switchboard-event'], 'session.disconnected');
    assert.ok(!h.logs.join('\n').includes(secret), 'the secret never reaches a log line');
    const audit = await h.app.store.audit.list({ first: 5, filter: { action: 'webhook.create' } });
    assert.equal(audit.rows[0]?.metadata.webhookId, webhook.id);
    assert.ok(!JSON.stringify(audit.rows).includes(secret), 'nor the audit trail');
    await deleteAll();
  });

  test('a receiver that fails three times, then recovers, gets the delivery exactly once more; four attempts recorded', async () => {
    const rx = await receiver();
    let calls = 0;
    rx.answer = (_r, res) => {
      calls += 1;
      res.writeHead(calls <= 3 ? 503 : 200).end();
    };
    const { webhook } = await create(rx.url, ['SESSION_CONNECTED']);
    gw.connect('bob');
    await h.settle();
    await waitFor(async () => (await deliveries(webhook.id))[0]?.status === 'DELIVERED', 10_000, 'delivered');
    await quietPeriod(400); // several poll rounds and backoff periods: a duplicate would show
    assert.equal(rx.got.length, 4);
    assert.equal(new Set(rx.got.map((g) => g.body)).size, 1, 'the same body every time');
    const [d] = await deliveries(webhook.id);
    assert.deepEqual(
      d!.attempts.map((a) => [a.attempt, a.statusCode, a.error]),
      [
        [1, 503, 'HTTP 503'],
        [2, 503, 'HTTP 503'],
        [3, 503, 'HTTP 503'],
        [4, 200, null],
      ],
    );
    assert.equal(JSON.parse(d!.payload).id, d!.eventId);
    await deleteAll();
  });

  test('a hanging receiver does not hold up the API', async () => {
    const rx = await receiver();
    const stuck: ServerResponse[] = [];
    rx.answer = (_r, res) => void stuck.push(res);
    const { webhook } = await create(rx.url, ['SESSION_CONNECTED', 'SESSION_DISCONNECTED']);
    const report = gw.connect('carol');
    await h.settle();
    await waitFor(() => stuck.length > 0, 10_000, 'the receiver holds a delivery');
    // While the delivery hangs: reads, a disconnect (whose outbox row is written) and its events go on.
    const session = (await h.app.store.sessions.findByRef('gw-hooks', report.ref))!;
    const list = await h.gql('{ onlineSessions { totalCount } }');
    assert.equal(list.status, 200, list.text);
    const r = await h.gql('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: session.id,
    });
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } });
    assert.equal(stuck.length >= 1 && rx.got.length >= 1, true);
    const pending = await deliveries(webhook.id);
    assert.ok(
      pending.some((d) => d.status === 'PENDING' && d.attempts.length === 0),
      'the first delivery is still in flight (no attempt recorded)',
    );
    for (const res of stuck) res.writeHead(200).end();
    rx.answer = (_r, res) => res.writeHead(200).end();
    await waitFor(
      async () => (await deliveries(webhook.id)).every((d) => d.status === 'DELIVERED'),
      10_000,
      'both delivered once released',
    );
    await deleteAll();
  });

  test('a hung endpoint beside a healthy one: the healthy one gets every event while the hung one still holds its first; the hung lane stays bounded', async () => {
    const hung = await receiver();
    const held: ServerResponse[] = [];
    hung.answer = (_r, res) => void held.push(res);
    const healthy = await receiver();
    const hungHook = (await create(hung.url, ['SESSION_CONNECTED'])).webhook;
    await create(healthy.url, ['SESSION_CONNECTED']);
    const users = Array.from({ length: 8 }, (_, i) => `lane-${i}`);
    gw.connect(users[0]!);
    await h.settle();
    await waitFor(() => held.length >= 1, 10_000, 'the hung receiver holds its first delivery');
    for (const u of users.slice(1)) gw.connect(u);
    await h.settle();
    await waitFor(() => healthy.got.length >= users.length, 10_000, 'the healthy receiver got every event');
    const names = healthy.got.map(
      (g) => (JSON.parse(g.body) as { session: { user: { name: string } } }).session.user.name,
    );
    assert.deepEqual([...names].sort(), [...users].sort(), 'each event once');
    // The order that matters: all of that happened while the hung receiver still held its first request.
    assert.equal(held[0]!.writableEnded, false, 'the first hung request is still unanswered');
    assert.ok(
      !(await deliveries(hungHook.id)).some((d) => d.status === 'DELIVERED' || d.attempts.length > 0),
      'no hung delivery has finished an attempt',
    );
    // Bounded: one lane's worth of requests is open at the hung receiver (default 4 per endpoint), not one per event.
    await waitFor(() => held.length >= 4, 10_000, 'the hung lane is full');
    gw.connect('lane-after');
    await h.settle();
    await waitFor(() => healthy.got.length >= users.length + 1, 10_000, 'a later event reaches the healthy receiver');
    assert.equal(held.length, 4, 'no more than its lane: the rest waits in the outbox');
    hung.answer = (_r, res) => res.writeHead(200).end();
    for (const res of held) res.writeHead(200).end();
    await waitFor(
      async () => (await deliveries(hungHook.id)).every((d) => d.status === 'DELIVERED'),
      10_000,
      'the hung endpoint catches up once it answers',
    );
    assert.equal(new Set(hung.got.map((g) => g.body)).size, users.length + 1);
    await deleteAll();
  });

  test('webhooks need admin; a bad URL or an empty event list is refused; deleting is audited', async () => {
    const reader = await h.token(['sessions:read', 'audit:read']);
    const denied = await h.gql(CREATE, { in: { url: 'https://x.example/', events: ['SESSION_CONNECTED'] } }, reader);
    assert.equal(denied.json.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    for (const input of [
      { url: 'ftp://x.example/', events: ['SESSION_CONNECTED'] },
      { url: 'https://x.example/', events: [] },
    ]) {
      const bad = await h.gql(CREATE, { in: input });
      assert.equal(bad.json.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', bad.text);
    }
    const { webhook } = await create('https://hooks.example.com/x', ['SESSION_CONNECTED']);
    const del = await h.gql('mutation ($id: String!) { deleteWebhook(id: $id) { id } }', { id: webhook.id });
    assert.equal(del.status, 200, del.text);
    const again = await h.gql('mutation ($id: String!) { deleteWebhook(id: $id) { id } }', { id: webhook.id });
    assert.equal(again.json.errors?.[0]?.extensions?.code, 'WEBHOOK_NOT_FOUND');
    const audit = await h.app.store.audit.list({ first: 1, filter: { action: 'webhook.delete' } });
    assert.equal(audit.rows[0]?.metadata.webhookId, webhook.id);
  });
});

describe('webhooks: what a hung receiver costs is bounded', () => {
  let h: AppHarness;
  let gw: FakeAdapter;
  const rx = new Receiver();

  before(async () => {
    await rx.start();
    rx.answer = () => {}; // never answers
    gw = new FakeAdapter({ id: 'gw-hooks-bounded' });
    h = await startApp({
      adapters: [gw],
      env: {
        SWITCHBOARD_WEBHOOK_POLL_MS: '20',
        SWITCHBOARD_WEBHOOK_BACKOFF_MS: '50',
        SWITCHBOARD_WEBHOOK_BACKOFF_CAP_MS: '100',
        SWITCHBOARD_WEBHOOK_TIMEOUT_MS: '300',
        SWITCHBOARD_WEBHOOK_CONCURRENCY: '1',
      },
    });
  });
  after(async () => {
    await h?.close();
    await rx.stop();
  });

  test('each attempt is cut off at the timeout and retried with backoff; requests beyond the recorded attempts never exceed the lane', async () => {
    const r = await h.gql(CREATE, { in: { url: rx.url, events: ['SESSION_CONNECTED'] } });
    assert.equal(r.status, 200, r.text);
    const id = (r.json.data!.createWebhook as { webhook: { id: string } }).webhook.id;
    for (const user of ['x1', 'x2', 'x3']) gw.connect(user);
    await h.settle();
    const rows = async () => {
      const d = await h.gql(DELIVERIES, { id });
      return d.json.data!.webhookDeliveries as {
        status: string;
        attempts: { attempt: number; statusCode: number | null; error: string | null }[];
      }[];
    };
    // Every delivery tried at least twice: the lane moved on from each hung attempt.
    let requests = 0;
    const tried = await waitFor(
      async () => {
        requests = rx.got.length; // read before the attempts: attempts only grow
        const list = await rows();
        return list.length === 3 && list.every((d) => d.attempts.length >= 2) ? list : null;
      },
      20_000,
      'every delivery attempted twice',
    );
    for (const d of tried) {
      assert.equal(d.status, 'PENDING', 'still retried, not given up');
      for (const a of d.attempts) assert.deepEqual([a.statusCode, a.error], [null, 'no response within 300 ms']);
    }
    const attempts = tried.reduce((n, d) => n + d.attempts.length, 0);
    // Each request the receiver got is a recorded attempt, except at most one in flight (SWITCHBOARD_WEBHOOK_CONCURRENCY=1).
    assert.ok(requests <= attempts + 1, `${requests} requests for ${attempts} recorded attempts`);
  });
});
