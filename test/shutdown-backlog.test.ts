/**
 * Shutdown under a backlog of gateway reports (a replica that fell behind a fleet's snapshots): the
 * stop waits for the reports within SWITCHBOARD_SHUTDOWN_DRAIN_MS, then drops the batches that have
 * not started instead of applying them for minutes, and says how many. Nothing recorded is lost: the
 * restarted process gets every gateway's snapshot and lists every session.
 *
 * PostgreSQL, where a replica falls behind: the test holds a lock on the sessions table, so the
 * burst's first batches wait on it for as long as the test wants (no timing luck), and lets go once
 * the stop has reached its bound.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { apiClient } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { waitFor } from './support/wait.js';

const GATEWAYS = 10;
const SESSIONS_PER_GATEWAY = 500;
const TOTAL = GATEWAYS * SESSIONS_PER_GATEWAY;
const BOUND_MS = 300;

/** Sessions online, asked as `admin` (a restarted process prints no bootstrap token). */
async function online(h: AppHarness, admin: string): Promise<number> {
  const r = await apiClient(h.url, admin)('{ onlineSessions(first: 1) { totalCount } }');
  const page = r.json.data?.onlineSessions as { totalCount: number } | undefined;
  if (!page) throw new Error(`onlineSessions failed: ${r.text}`);
  return page.totalCount;
}

function logged(h: AppHarness, msg: string): { dropped?: number } | undefined {
  return h.logs.map((l) => JSON.parse(l) as { msg?: string; dropped?: number }).find((l) => l.msg?.startsWith(msg));
}

const pgSkip = await postgresSkipReason();
describe('shutdown with a backlog of gateway reports (PostgreSQL)', { skip: pgSkip }, () => {
  const dbs: { drop(): Promise<void> }[] = [];
  after(async () => {
    for (const db of dbs) await db.drop();
  });

  test('the stop drops the batches not started after its bound and says so; the restart lists every session', async () => {
    const db = await createFreshPostgresDatabase();
    dbs.push(db);
    const adapters = Array.from({ length: GATEWAYS }, (_, i) => new FakeAdapter({ id: `backlog-${i}` }));
    const env = { SWITCHBOARD_SHUTDOWN_DRAIN_MS: String(BOUND_MS) };
    const first = await startApp({ adapters, env, databaseUrl: db.url });
    const gatewaysKnown = async () => {
      const r = await first.gql('{ gateways { id } }');
      return (r.json.data?.gateways as unknown[] | undefined)?.length === GATEWAYS;
    };
    await waitFor(gatewaysKnown, 30_000, 'every gateway row (the first snapshots)');

    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      // Writes to sessions wait; reads do not.
      await locker.query('begin');
      await locker.query('lock table sessions in exclusive mode');
      for (const a of adapters) for (let n = 0; n < SESSIONS_PER_GATEWAY; n++) a.connect(`u${n}`);
      const closed = first.close();
      const boundMsg = 'gateway reports still being applied at the shutdown bound';
      await waitFor(() => logged(first, boundMsg), 60_000, 'the stop to reach its bound');
      await locker.query('commit');
      await closed;
    } finally {
      await locker.end();
    }
    const warning = logged(first, 'gateway reports not applied before the shutdown bound');
    assert.ok(warning, 'the stop says it left reports unapplied');
    assert.ok((warning.dropped ?? 0) > 0, `reports were dropped: ${JSON.stringify(warning)}`);
    assert.ok((warning.dropped ?? 0) < TOTAL, 'the batches that had started were applied');

    // The restart on the same store: each gateway's snapshot brings what the stop dropped.
    const second = await startApp({ adapters, env, databaseUrl: db.url });
    try {
      let seen = 0;
      await waitFor(
        async () => (seen = await online(second, first.admin)) === TOTAL,
        60_000,
        () => `all ${TOTAL} sessions online after the restart (${seen})`,
        100,
      );
    } finally {
      await second.close();
    }
  });
});

describe('shutdown without a backlog (SQLite)', () => {
  test('every report received before the stop is applied; nothing is dropped', async () => {
    const adapters = [new FakeAdapter({ id: 'no-backlog' })];
    const h = await startApp({ adapters, env: { SWITCHBOARD_SHUTDOWN_DRAIN_MS: '10000' } });
    for (let n = 0; n < 200; n++) adapters[0]!.connect(`u${n}`);
    await h.close();
    assert.equal(logged(h, 'gateway reports not applied before the shutdown bound'), undefined);
    const again = await startApp({ databaseUrl: h.databaseUrl });
    try {
      // No agent now: what is listed is what the first process applied before it stopped.
      assert.equal(await online(again, h.admin), 200);
    } finally {
      await again.close();
    }
  });
});
