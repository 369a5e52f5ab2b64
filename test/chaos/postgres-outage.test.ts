/**
 * PostgreSQL connections cut under a running Switchboard: every connection of its role is ended with
 * `pg_terminate_backend` and new ones are refused (the role's connection limit set to 0). Expected:
 * every request in the outage answers 503 STORE_UNAVAILABLE (none hangs, none is a 500), the process
 * keeps serving /healthz, and once connections are allowed again it serves normally without a restart,
 * sessions that connected during the outage included.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FakeAdapter } from '../support/fake-adapter.js';
import { postGraphql } from '../support/api-client.js';
import { startApp, type AppHarness } from '../support/app-harness.js';
import { waitFor } from '../support/wait.js';
import { postgresSkipReason } from '../support/postgres.js';
import { assertNoSecrets } from '../support/secret-scan.js';

const ADMIN_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const skip = await postgresSkipReason();
const suffix = randomBytes(5).toString('hex');
const role = `sb_chaos_${suffix}`;
const database = `switchboard_chaos_${suffix}`;
const gw = new FakeAdapter({ id: 'gw-pg-chaos' });
let h: AppHarness;

async function admin(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A POST that must answer within 15 s (a hang fails the test instead of stalling it). */
async function post(
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ status: number; code: string | undefined; retryAfter: string | null }> {
  const res = await postGraphql(h.url, { query, variables }, { token: h.admin, timeoutMs: 15_000 });
  const json = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
  return { status: res.status, code: json.errors?.[0]?.extensions?.code, retryAfter: res.headers.get('retry-after') };
}

before(async () => {
  if (skip) return;
  // A role of its own (not a superuser), so that its connection limit applies.
  await admin(`create role ${role} login`);
  await admin(`create database ${database} owner ${role}`);
  const url = new URL(ADMIN_URL);
  url.username = role;
  url.pathname = `/${database}`;
  h = await startApp({
    adapters: [gw],
    databaseUrl: url.toString(),
    env: { SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0', SWITCHBOARD_RATE_LIMIT_PER_IP: '0' },
  });
});

after(async () => {
  if (skip) return;
  await h?.close();
  await admin(`alter role ${role} connection limit -1`).catch(() => {});
  await admin(`drop database if exists ${database} with (force)`);
  await admin(`drop role if exists ${role}`);
});

test(
  'connections cut and refused: 503 STORE_UNAVAILABLE at once; allowed again: served without a restart',
  { skip },
  async () => {
    const first = gw.connect('before-outage');
    await waitFor(
      async () => (await h.app.store.sessions.findByRef('gw-pg-chaos', first.ref)) !== null,
      10_000,
      'session stored',
    );
    const sessionId = (await h.app.store.sessions.findByRef('gw-pg-chaos', first.ref))!.id;
    assert.equal((await post('{ onlineSessions { totalCount } }')).status, 200);

    await admin(`alter role ${role} connection limit 0`);
    const killed = await admin(`select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}'`);
    assert.ok(killed.rowCount! >= 1, 'the server had connections to cut');

    const during = await Promise.all([
      ...Array.from({ length: 10 }, () => post('{ onlineSessions { totalCount } }')),
      ...Array.from({ length: 5 }, () => post('{ auditEvents(first: 5) { totalCount } }')),
      ...Array.from({ length: 5 }, () =>
        post('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id: sessionId }),
      ),
    ]);
    for (const r of during) {
      assert.equal(r.status, 503, JSON.stringify(r));
      assert.equal(r.code, 'STORE_UNAVAILABLE');
    }
    const during2 = gw.connect('during-outage'); // the agent's report cannot be stored now
    assert.equal((await fetch(`${h.url}/healthz`)).status, 200, 'the process is alive and serving');
    assert.deepEqual(gw.commands, [], 'no disconnect was sent while the store could not record it');

    await admin(`alter role ${role} connection limit -1`);
    await waitFor(async () => (await post('{ onlineSessions { totalCount } }')).status === 200, 15_000, 'served again');
    await gw.snapshot(); // the agent's next periodic snapshot, on cue
    await waitFor(
      async () => (await h.app.store.sessions.findByRef('gw-pg-chaos', during2.ref)) !== null,
      10_000,
      'the session from the outage is stored',
    );
    const ok = await post('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id: sessionId });
    assert.equal(ok.status, 200, 'the disconnect works after recovery');

    const lines = h.logs.map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(
      !lines.some((l) => l.msg === 'request failed' || l.msg === 'resolver failed'),
      'no request became an internal error',
    );
    assertNoSecrets(h.logs, [h.admin], 'postgres outage');
  },
);
