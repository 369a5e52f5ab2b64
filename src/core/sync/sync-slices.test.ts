/**
 * A large snapshot is checked a slice at a time, the event loop served in between (ReportIntake's
 * `readSliced`), without changing what is applied or in which order: the same verdict as checking it
 * in one go, and the gateway's reports that arrive meanwhile are applied after it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason } from '../../../test/support/postgres.js';
import { twoReplicaStores, type ReplicaStores } from '../../../test/support/replica-stores.js';
import { subjects } from '../../bus/bus.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import { CHECK_SLICE, ReportIntake } from '../report-intake.js';
import { versioned, type GatewayReport } from '../reports.js';
import { sessionReport } from './session-report.test-support.js';
import { SessionSync } from './session-sync.js';

const gateway = { name: 'Slices', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
const T = Date.now();
let seq = 0;

function snapshot(gatewayId: string, n: number): GatewayReport {
  const sessions = Array.from({ length: n }, (_, i) => sessionReport(`r${i}`, T, i));
  return {
    type: 'snapshot',
    gatewayId,
    agentId: 'agt_test',
    seq: ++seq,
    at: T + seq,
    gateway,
    daemonStartedAt: T,
    sessions,
  };
}

/** Counts setImmediate turns until stopped: how often the event loop was served meanwhile. */
function turns() {
  let n = 0;
  let on = true;
  const spin = () => {
    n++;
    if (on) setImmediate(spin);
  };
  setImmediate(spin);
  return {
    get n() {
      return n;
    },
    stop: () => void (on = false),
  };
}

describe('report intake: a large snapshot checked in slices', () => {
  test('the same report as checking it at once, with the event loop served between slices', async () => {
    const intake = new ReportIntake({ logger: silentLogger });
    const data = versioned(snapshot('gw-sl', 1_000));
    const loop = turns();
    const sliced = await intake.readSliced(data, 'gw-sl', 'gateway.gw-sl.report');
    const during = loop.n;
    loop.stop();
    assert.deepEqual(sliced, intake.read(data, 'gw-sl', 'gateway.gw-sl.report'));
    assert.ok(during >= 1_000 / CHECK_SLICE - 1, `the loop turned ${during} times while 1,000 sessions were checked`);
    assert.equal(intake.sliced(data), true);
    assert.equal(intake.sliced(versioned(snapshot('gw-sl', CHECK_SLICE))), false, 'a small snapshot is read at once');
  });

  test('a bad session anywhere refuses the report as checking it at once does, naming the same session', async () => {
    const warned: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (o) => void warned.push(String((o as { problem?: unknown }).problem)),
    };
    const report = snapshot('gw-bad', 1_000);
    const data = versioned(report) as Record<string, unknown> & { sessions: Record<string, unknown>[] };
    data.sessions[537]!.bytesSent = -1;
    const a = new ReportIntake({ logger });
    const b = new ReportIntake({ logger });
    assert.equal(await a.readSliced(data, 'gw-bad', 'gateway.gw-bad.report'), null);
    assert.equal(b.read(data, 'gw-bad', 'gateway.gw-bad.report'), null);
    assert.deepEqual(a.counters, b.counters);
    assert.equal(a.counters.invalid, 1);
    assert.equal(a.status('gw-bad').rejectedReports, 1);
    assert.equal(warned.length, 2);
    assert.equal(warned[0], warned[1]);
    assert.match(warned[0]!, /^sessions\.537\.bytesSent: /);
    // The body names another gateway than its subject: refused before any session is checked.
    assert.equal(await a.readSliced(versioned(snapshot('gw-other', 1_000)), 'gw-bad', 'gateway.gw-bad.report'), null);
    assert.equal(a.counters.gatewayMismatch, 1);
  });
});

describe('session sync: a periodic snapshot of 1,000 sessions (one transaction, SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sync-turns-'));
  let store: Store;
  before(async () => (store = await openStore(`sqlite:${join(dir, 'sync.db')}`)));
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the event loop turns between reading the online rows and writing the refresh, in the same transaction', async () => {
    const sync = new SessionSync({ store, bus: new MemoryBus(), logger: silentLogger });
    await sync.enqueue(snapshot('gw-turns', 1_000));
    // SQLite answers without I/O: without a yield of its own, the apply would not let the loop turn at all.
    const seen: { step: string; turns: number; tx: unknown }[] = [];
    const loop = turns();
    const transaction = store.transaction.bind(store);
    store.transaction = ((fn: Parameters<Store['transaction']>[0]) =>
      transaction((tx) => {
        const { listOnlineStatsByGateway, updateStatsMany } = tx.sessions;
        tx.sessions.listOnlineStatsByGateway = async (...a) => {
          const rows = await listOnlineStatsByGateway.apply(tx.sessions, a);
          seen.push({ step: 'read', turns: loop.n, tx });
          return rows;
        };
        tx.sessions.updateStatsMany = (...a) => {
          if (a[1].length > 0) seen.push({ step: 'refresh', turns: loop.n, tx });
          return updateStatsMany.apply(tx.sessions, a);
        };
        return fn(tx);
      })) as Store['transaction'];
    try {
      await sync.enqueue({ ...snapshot('gw-turns', 1_000), at: T + 120_000 });
    } finally {
      loop.stop();
      store.transaction = transaction;
    }
    const [read, refresh] = seen;
    assert.deepEqual(
      seen.map((s) => s.step),
      ['read', 'refresh'],
    );
    assert.equal(read!.tx, refresh!.tx, 'one transaction');
    assert.ok(refresh!.turns > read!.turns, 'the loop turned in between');
    assert.equal((await store.sessions.findByRef('gw-turns', 'r5'))?.lastSeenAt, T + 120_000);
  });
});

/** Each store: a 1,000-session snapshot and the deltas right behind it, received over the bus. */
function orderSuite(
  name: string,
  open: () => Promise<{ store: Store; close: () => Promise<void> }>,
  skip?: string | false,
) {
  describe(`session sync: a large snapshot read in slices keeps its gateway's order (${name})`, { skip }, () => {
    let store: Store;
    let close: () => Promise<void>;
    const bus = new MemoryBus();
    before(async () => ({ store, close } = await open()));
    after(async () => {
      await bus.close();
      await close?.();
    });

    test('the deltas that arrive while the snapshot is checked are applied after it; the loop turns before it applies', async () => {
      const gw = `gw-order-${name.toLowerCase()}`;
      const sync = new SessionSync({ store, bus, logger: silentLogger });
      sync.start();
      // When the snapshot's transaction begins: how often the event loop had turned by then.
      let turnsAtApply = -1;
      const loop = turns();
      const transaction = store.transaction.bind(store);
      store.transaction = ((fn: Parameters<Store['transaction']>[0]) => {
        if (turnsAtApply < 0) turnsAtApply = loop.n;
        return transaction(fn);
      }) as Store['transaction'];
      try {
        const subject = subjects.gatewayReport(gw);
        await bus.publish(subject, versioned(snapshot(gw, 1_000)));
        // Right behind it: r1 quits, a new session comes. Applied before the snapshot, the quit would
        // find nothing to end and the snapshot would then create r1: online.
        const delta = { gatewayId: gw, agentId: 'agt_test', at: T + 100_000 };
        await bus.publish(
          subject,
          versioned({ ...delta, type: 'session.disconnected', seq: ++seq, ref: 'r1', cause: 'CLIENT_DISCONNECT' }),
        );
        await bus.publish(
          subject,
          versioned({ ...delta, type: 'session.connected', seq: ++seq, session: sessionReport('late', T) }),
        );
        await new Promise((r) => setImmediate(r));
        await sync.idle();
      } finally {
        loop.stop();
        sync.stop();
        store.transaction = transaction;
      }
      assert.ok(turnsAtApply >= 1_000 / CHECK_SLICE - 1, `the loop turned ${turnsAtApply} times before the apply`);
      assert.equal((await store.sessions.findByRef(gw, 'r1'))?.endCause, 'CLIENT_DISCONNECT', 'the quit came after');
      assert.equal((await store.sessions.findByRef(gw, 'r2'))?.endedAt, null);
      assert.equal((await store.sessions.findByRef(gw, 'late'))?.endedAt, null);
      assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 1_000);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sb-sync-slices-'));
orderSuite('SQLite', async () => {
  const store = await openStore(`sqlite:${join(dir, 'sync.db')}`);
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
const pgSkip = await postgresSkipReason();
orderSuite(
  'PostgreSQL',
  async () => {
    const replicas: ReplicaStores = await twoReplicaStores();
    return { store: replicas.a, close: () => replicas.close() };
  },
  pgSkip,
);
