/**
 * PostgreSQL: every multi-row write to `sessions` locks its rows in id order, so two such writes of
 * the same rows wait for each other and never deadlock. Made deterministic with two sessions, a < b
 * by id, where b comes first in every other order a plan could take (inserted first, so first in the
 * heap; connected later, so first in the gateway's online index; named first in the call), and the
 * interleaving set by hand: another transaction holds a's row; the write under test starts and
 * waits for it (seen in pg_stat_activity); then that transaction locks b's row too, as a write in id
 * order would, and commits. A write that took b before waiting for a deadlocks there: PostgreSQL
 * aborts one of the two (40P01) after `deadlock_timeout`.
 * The database runs without plain index scans (`enable_indexscan = off`): with two rows the planner
 * would read them through the primary key in id order, which at a thousand rows it does not (a bitmap
 * heap scan reads them in the heap's order); this makes it take the order it takes at scale.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import { waitFor } from '../../../test/support/wait.js';
import { T0, makeGateway, makeSession } from '../contract/fixtures.js';
import { openStore, type KyselyStore } from './kysely-store.js';

const skip = await postgresSkipReason();

describe('PostgreSQL: multi-row writes to sessions lock in id order (no deadlock)', { skip }, () => {
  let fresh: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  let store: KyselyStore;
  let watcher: pg.Client;
  let round = 0;

  before(async () => {
    fresh = await createFreshPostgresDatabase();
    const admin = new pg.Client({ connectionString: fresh.url });
    await admin.connect();
    await admin.query(`alter database ${new URL(fresh.url).pathname.slice(1)} set enable_indexscan = off`);
    await admin.end();
    store = await openStore(fresh.url);
    watcher = new pg.Client({ connectionString: fresh.url });
    await watcher.connect();
  });
  after(async () => {
    await watcher?.end();
    await store?.close();
    await fresh?.drop();
  });

  /** Two online sessions of a fresh gateway, a < b by id, b first in the heap, in the gateway index and in `[b, a]`. */
  async function pair(): Promise<{ gw: string; a: string; b: string }> {
    const gateway = makeGateway();
    await store.gateways.upsert(gateway);
    round++;
    const a = `sess_lockorder${round}a`;
    const b = `sess_lockorder${round}b`;
    await store.sessions.insertIfAbsent(makeSession(gateway.id, { id: b, connectedAt: T0 + 2 }));
    await store.sessions.insertIfAbsent(makeSession(gateway.id, { id: a, connectedAt: T0 + 1 }));
    return { gw: gateway.id, a, b };
  }

  /** Backends of this database waiting for a lock. */
  async function waiting(): Promise<number> {
    const r = await watcher.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    );
    return r.rows[0]!.n;
  }

  /**
   * `write` (of a and b, b named first) runs while another transaction holds a; once it waits, that
   * transaction takes b as well. Both must complete.
   */
  async function noDeadlock(write: (ids: { gw: string; a: string; b: string }) => Promise<unknown>): Promise<void> {
    const ids = await pair();
    let holding = (): void => {};
    const held = new Promise<void>((r) => (holding = r));
    let proceed = (): void => {};
    const go = new Promise<void>((r) => (proceed = r));
    const other = store.transaction(async (tx) => {
      await tx.sessions.updateStats(ids.a, { bytesReceived: 7, bytesSent: 7, lastSeenAt: T0 + 50 });
      holding();
      await go;
      await tx.sessions.updateStats(ids.b, { bytesReceived: 7, bytesSent: 7, lastSeenAt: T0 + 50 });
    });
    await held;
    const written = write(ids);
    const outcomes = Promise.allSettled([other, written]);
    try {
      await waitFor(async () => (await waiting()) > 0, 10_000, 'the write waiting for the row of a');
    } finally {
      proceed();
    }
    const [o, w] = await outcomes;
    const failed = [o, w].flatMap((r) =>
      r.status === 'rejected' ? [r.reason as { code?: string; message?: string }] : [],
    );
    assert.deepEqual(
      failed.map((e) => `${e.code}: ${e.message}`),
      [],
      'both writes complete (40P01: the write took b before waiting for a)',
    );
  }

  test('updateStatsMany (a snapshot refresh)', () =>
    noDeadlock(({ gw, a, b }) =>
      store.sessions.updateStatsMany(gw, [
        { id: b, bytesReceived: 9, bytesSent: 9, lastSeenAt: T0 + 60 },
        { id: a, bytesReceived: 9, bytesSent: 9, lastSeenAt: T0 + 60 },
      ]),
    ));

  test('markEndedMany (a bulk end)', () =>
    noDeadlock(({ a, b }) => store.sessions.markEndedMany([b, a], { endedAt: T0 + 70, cause: 'GATEWAY_RESTART' })));

  test('markEndedWithStats (a run of ends with counters)', () =>
    noDeadlock(({ a, b }) =>
      store.sessions.markEndedWithStats(
        [b, a].map((id) => ({ id, endedAt: T0 + 80, finalStats: { bytesReceived: 1, bytesSent: 2, lastSeenAt: T0 } })),
        { cause: 'ADMIN_DISCONNECT' },
        { claimEcho: true },
      ),
    ));

  test('fillTransports', () =>
    noDeadlock(({ a, b }) =>
      store.sessions.fillTransports([
        { id: b, transport: 'UDP' },
        { id: a, transport: 'UDP' },
      ]),
    ));

  test('updateAddresses (in one transaction)', () =>
    noDeadlock(({ a, b }) =>
      store.transaction((tx) =>
        tx.sessions.updateAddresses([
          { id: b, clientAddress: '198.51.100.9:1194' },
          { id: a, clientAddress: '198.51.100.9:1194' },
        ]),
      ),
    ));

  test('the writes still change what they did: ended rows are skipped once their lock is granted', async () => {
    const { a, b } = await pair();
    const first = await store.sessions.markEndedMany([b, a], { endedAt: T0 + 90, cause: 'GATEWAY_RESTART' });
    assert.deepEqual(first.map((s) => s.id).sort(), [a, b]);
    assert.deepEqual(await store.sessions.markEndedMany([a, b], { endedAt: T0 + 91, cause: 'GATEWAY_RESTART' }), []);
  });
});
