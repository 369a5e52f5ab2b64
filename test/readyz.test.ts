/**
 * `GET /readyz` against the real parts: SQLite, PostgreSQL behind a TCP proxy this test cuts (the
 * shared server itself is never touched), and a nats-server process of this test's own that it stops
 * and starts again. `/healthz` stays 200 throughout: it is liveness only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { TcpProxy } from './support/tcp-proxy.js';

interface Ready {
  status: number;
  body: { status: string; failed: string[]; checks: Record<string, string> };
  cache: string | null;
}

async function readyz(h: AppHarness): Promise<Ready> {
  // No Authorization header: load balancers probe without a token.
  const res = await fetch(`${h.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Ready['body'], cache: res.headers.get('cache-control') };
}

async function healthz(h: AppHarness): Promise<number> {
  const res = await fetch(`${h.url}/healthz`);
  await res.arrayBuffer();
  return res.status;
}

const READY = { status: 'ready', failed: [], checks: { store: 'ok', migrations: 'ok', bus: 'ok', deployment: 'ok' } };

describe('readyz on SQLite', () => {
  let h: AppHarness;
  before(async () => {
    h = await startApp();
  });
  after(async () => {
    await h?.close();
  });

  test('200 with every check ok, without a token, never cached; HEAD too', async () => {
    const r = await readyz(h);
    assert.deepEqual(
      { status: r.status, body: r.body, cache: r.cache },
      { status: 200, body: READY, cache: 'no-store' },
    );
    const head = await fetch(`${h.url}/readyz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await healthz(h), 200);
  });

  test('a store that is gone answers 503 naming the store; healthz stays 200', async () => {
    await h.app.store.close();
    const r = await readyz(h);
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'not ready');
    assert.deepEqual(r.body.failed, ['store']);
    assert.equal(r.body.checks.migrations, 'not checked');
    assert.equal(r.body.checks.bus, 'ok');
    assert.equal(await healthz(h), 200);
  });
});

const pgSkip = await postgresSkipReason();

describe('readyz on PostgreSQL behind a proxy that the test cuts', { skip: pgSkip }, () => {
  let h: AppHarness;
  let proxy: TcpProxy;
  let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  before(async () => {
    db = await createFreshPostgresDatabase();
    const target = new URL(db.url);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    target.port = String(proxy.port);
    h = await startApp({ databaseUrl: target.toString() });
  });
  after(async () => {
    proxy?.restore();
    await h?.close();
    await proxy?.stop();
    await db?.drop();
  });

  test('200 while PostgreSQL answers', async () => {
    const r = await readyz(h);
    assert.deepEqual({ status: r.status, body: r.body }, { status: 200, body: READY });
  });

  test('connections reset: 503 naming the store; 200 again once it is reachable', async () => {
    proxy.refuse();
    const down = await waitFor(
      async () => {
        const r = await readyz(h);
        return r.status === 503 ? r : null;
      },
      15_000,
      'readyz 503',
    );
    assert.deepEqual(down.body.failed, ['store']);
    assert.equal(down.body.checks.migrations, 'not checked');
    assert.match(down.body.checks.store!, /^database unavailable/);
    assert.equal(down.body.checks.bus, 'ok');
    assert.equal(await healthz(h), 200);
    proxy.restore();
    await waitFor(async () => (await readyz(h)).status === 200, 15_000, 'readyz 200 again');
  });

  test('a partition (nothing answers): each probe answers 503 after the short timeout; 200 after', async () => {
    proxy.blackhole();
    // Several probes while the query hangs: each answers (503) instead of waiting for the database.
    for (let i = 0; i < 3; i++) {
      const r = await readyz(h);
      assert.equal(r.status, 503);
      assert.deepEqual(r.body.failed, ['store']);
      assert.match(r.body.checks.store!, /^no answer within \d+ ms$/);
    }
    assert.equal(await healthz(h), 200);
    proxy.restore();
    await waitFor(async () => (await readyz(h)).status === 200, 15_000, 'readyz 200 after the partition');
  });
});

const natsSkip = natsServerSkipReason();

describe('readyz with NATS: a nats-server of this test, stopped and started again', { skip: natsSkip }, () => {
  let h: AppHarness;
  let nats: TestNatsServer;
  before(async () => {
    nats = await startNatsServer();
    h = await startApp({ env: { SWITCHBOARD_NATS_URL: nats.url } });
  });
  after(async () => {
    await h?.close();
    await nats?.stop();
  });

  test('200 while connected; 503 naming the bus while NATS is gone; 200 after it is back', async () => {
    assert.deepEqual((await readyz(h)).body, READY);
    await nats.stop();
    const down = await waitFor(
      async () => {
        const r = await readyz(h);
        return r.status === 503 ? r : null;
      },
      15_000,
      'readyz 503',
    );
    assert.deepEqual(down.body, {
      status: 'not ready',
      failed: ['bus'],
      checks: { store: 'ok', migrations: 'ok', bus: 'not connected to NATS (reconnecting)', deployment: 'ok' },
    });
    assert.equal(await healthz(h), 200);
    nats = await startNatsServer([], nats.port);
    await waitFor(async () => (await readyz(h)).status === 200, 20_000, 'readyz 200 after NATS is back');
  });
});
