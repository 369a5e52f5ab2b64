import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { freshGateway, makeSession } from '../store/contract/fixtures.js';
import { openStore } from '../store/kysely/kysely-store.js';
import type { Store, StoreTx } from '../store/store.js';
import { TransactionBatcher } from './transaction-batcher.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-batcher-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pgSkip = await postgresSkipReason();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`TransactionBatcher on ${dialect}`, { skip: dialect === 'postgres' ? pgSkip : false }, () => {
    let store: Store;
    let drop: (() => Promise<void>) | undefined;
    /** Transactions begun through the counting store. */
    let begun = 0;
    let counting: Store;
    before(async () => {
      if (dialect === 'postgres') {
        const fresh = await createFreshPostgresDatabase();
        drop = fresh.drop;
        store = await openStore(fresh.url);
      } else {
        store = await openStore(`sqlite:${join(dir, 'batcher.db')}`);
      }
      counting = Object.create(store, {
        transaction: { value: <T>(fn: (tx: StoreTx) => Promise<T>) => (begun++, store.transaction(fn)) },
      }) as Store;
    });
    after(async () => {
      await store.close();
      await drop?.();
    });

    const online = async (ids: string[]) =>
      Promise.all(ids.map(async (id) => (await store.sessions.findOnline(id)) !== null));

    test('a lone unit runs in its own transaction', async () => {
      const gw = await freshGateway(store);
      const s = makeSession(gw);
      await store.sessions.insertIfAbsent(s);
      begun = 0;
      const batcher = new TransactionBatcher(counting);
      assert.equal(
        (
          await batcher.run((tx) =>
            tx.sessions.markEnded(s.id, { endedAt: s.connectedAt + 1, cause: 'CLIENT_DISCONNECT' }),
          )
        )?.id,
        s.id,
      );
      assert.equal(begun, 1);
      assert.deepEqual(await online([s.id]), [false]);
    });

    const endAll = (batcher: TransactionBatcher, sessions: ReturnType<typeof makeSession>[]) =>
      sessions.map((s, i) =>
        batcher.run(async (tx) =>
          (await tx.sessions.markEnded(s.id, { endedAt: s.connectedAt + 1, cause: 'CLIENT_DISCONNECT' })) ? i : -1,
        ),
      );

    /** `n` online sessions and a batcher over the counting store, its count reset. */
    const fresh = async (n: number) => {
      const gw = await freshGateway(store);
      const sessions = Array.from({ length: n }, () => makeSession(gw));
      for (const s of sessions) await store.sessions.insertIfAbsent(s);
      begun = 0;
      return { sessions, batcher: new TransactionBatcher(counting) };
    };
    const allEnded = async (sessions: { id: string }[]) =>
      (await online(sessions.map((s) => s.id))).every((isOnline) => !isOnline);

    test('units of one event-loop turn share one transaction, each gets its own result', async () => {
      const { sessions, batcher } = await fresh(30);
      // Each unit queued from its own microtask chain, as requests' disconnects are.
      const results = await Promise.all(sessions.map((s) => Promise.resolve().then(() => endAll(batcher, [s])[0]!)));
      assert.deepEqual(
        results,
        sessions.map(() => 0),
      );
      assert.equal(begun, 1);
      assert.ok(await allEnded(sessions));
    });

    test('runAtomic: alone outside a transaction where transactions cost round trips (PostgreSQL), else in the group', async () => {
      const { sessions, batcher } = await fresh(10);
      const units = sessions.map((s) =>
        Promise.resolve().then(() =>
          batcher.runAtomic((tx) =>
            tx.sessions.markEnded(s.id, { endedAt: s.connectedAt + 1, cause: 'CLIENT_DISCONNECT' }),
          ),
        ),
      );
      assert.deepEqual(
        (await Promise.all(units)).map((row) => row?.id),
        sessions.map((s) => s.id),
      );
      assert.equal(store.transactionsCostRoundTrips, dialect === 'postgres');
      assert.equal(begun, dialect === 'postgres' ? 0 : 1);
      assert.ok(await allEnded(sessions));
    });

    test('units that arrive while a transaction runs share the next one', async () => {
      const { sessions, batcher } = await fresh(21);
      let later: Promise<number>[] = [];
      const first = await batcher.run(async (tx) => {
        // Queued while this transaction runs: none of them joins it.
        later = endAll(batcher, sessions.slice(1));
        return tx.sessions.markEnded(sessions[0]!.id, {
          endedAt: sessions[0]!.connectedAt + 1,
          cause: 'CLIENT_DISCONNECT',
        });
      });
      assert.equal(first?.id, sessions[0]!.id);
      assert.deepEqual(
        await Promise.all(later),
        sessions.slice(1).map((_, i) => i),
      );
      assert.equal(begun, 2);
      assert.ok(await allEnded(sessions));
    });

    test('a failing unit fails alone: the others of its batch commit, its own writes roll back', async () => {
      const gw = await freshGateway(store);
      const sessions = Array.from({ length: 6 }, () => makeSession(gw));
      for (const s of sessions) await store.sessions.insertIfAbsent(s);
      const batcher = new TransactionBatcher(store);
      const end = (s: (typeof sessions)[number]) => (tx: StoreTx) =>
        tx.sessions.markEnded(s.id, { endedAt: s.connectedAt + 1, cause: 'CLIENT_DISCONNECT' });
      const outcomes = await Promise.allSettled(
        sessions.map((s, i) =>
          batcher.run(async (tx) => {
            const ended = await end(s)(tx);
            if (i === 3) throw new Error('unit 3 refuses');
            return ended;
          }),
        ),
      );
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.match(String((outcomes[3] as PromiseRejectedResult).reason), /unit 3 refuses/);
      // Retried alone after the shared rollback, every other unit still ended its own session, once.
      assert.deepEqual(
        outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value?.id),
        sessions.filter((_, i) => i !== 3).map((s) => s.id),
      );
      assert.deepEqual(await online(sessions.map((s) => s.id)), [false, false, false, true, false, false]);
    });
  });
}
