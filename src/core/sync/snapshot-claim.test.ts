/**
 * A whole snapshot applied by two replicas, one after the other, on both stores: the second finds it
 * claimed and writes nothing, not even the gateway's upsert (its claim comes first for a known
 * gateway), and says so to its listeners (`here` false); the first snapshot of a gateway without a
 * row yet creates the row before claiming.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { databaseFor, postgresSkipReason } from '../../../test/support/postgres.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { silentLogger } from '../../domain/logger.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store, StoreTx } from '../../store/store.js';
import type { GatewayReport } from '../reports.js';
import { sessionReport } from './session-report.test-support.js';
import { SessionSync } from './session-sync.js';

const pgSkip = await postgresSkipReason();
const T = Date.now();
const gateway = { name: 'Claim', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };

/** `store` with its transactions' gateway upserts counted. */
function countingUpserts(store: Store): { store: Store; upserts: { n: number } } {
  const upserts = { n: 0 };
  const wrap = (tx: StoreTx): StoreTx => {
    const gateways = Object.create(tx.gateways, {
      upsert: { value: (g: Parameters<StoreTx['gateways']['upsert']>[0]) => (upserts.n++, tx.gateways.upsert(g)) },
    }) as StoreTx['gateways'];
    return Object.create(tx, { gateways: { value: gateways } }) as StoreTx;
  };
  const counting = Object.create(store, {
    transaction: {
      value: <R>(fn: (tx: StoreTx) => Promise<R>) => store.transaction((tx) => fn(wrap(tx))),
    },
  }) as Store;
  return { store: counting, upserts };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(
    `a whole snapshot a replica finds claimed writes nothing there, its gateway's upsert neither (${dialect})`,
    {
      skip: dialect === 'postgres' ? pgSkip : false,
    },
    async () => {
      const db = await databaseFor(dialect);
      // Two stores on one database, as two replicas (SQLite in memory: one store, two syncs).
      const storeA = await openStore(db.url);
      const storeB = dialect === 'postgres' ? await openStore(db.url) : storeA;
      try {
        const a = countingUpserts(storeA);
        const b = countingUpserts(storeB);
        const bus = new MemoryBus();
        const syncA = new SessionSync({ store: a.store, bus, logger: silentLogger });
        const syncB = new SessionSync({ store: b.store, bus, logger: silentLogger });
        const told: [string, boolean][] = [];
        syncA.onSnapshot((r, here) => void told.push([`a:${r.seq}`, here]));
        syncB.onSnapshot((r, here) => void told.push([`b:${r.seq}`, here]));
        const snapshot = (seq: number, refs: string[]): GatewayReport => ({
          type: 'snapshot',
          gatewayId: 'gw-claim',
          agentId: 'agt_claim',
          seq,
          at: T + seq,
          gateway,
          daemonStartedAt: T,
          sessions: refs.map((ref) => sessionReport(ref, T, seq)),
        });

        // The gateway's first snapshot: no row yet; A creates it, then B finds the snapshot claimed.
        await syncA.enqueue(snapshot(1, ['x', 'y']));
        await syncB.enqueue(snapshot(1, ['x', 'y']));
        assert.equal(a.upserts.n, 1, 'the first replica creates the gateway row');
        assert.equal(b.upserts.n, 0, 'the second writes no upsert: its claim came first and failed');
        // A periodic one, B first this time.
        await syncB.enqueue(snapshot(2, ['x', 'z']));
        await syncA.enqueue(snapshot(2, ['x', 'z']));
        assert.deepEqual([a.upserts.n, b.upserts.n], [1, 1]);
        assert.deepEqual(told, [
          ['a:1', true],
          ['b:1', false],
          ['b:2', true],
          ['a:2', false],
        ]);
        // What the claimer applied stands: the gateway known, the sessions as the last snapshot says.
        assert.equal((await storeA.gateways.findById('gw-claim'))?.name, 'Claim');
        const online = await storeB.sessions.listOnlineByGateway('gw-claim');
        assert.deepEqual(online.map((s) => s.ref).sort(), ['x', 'z']);
      } finally {
        await storeA.close();
        if (storeB !== storeA) await storeB.close();
        await db.drop();
      }
    },
  );
}
