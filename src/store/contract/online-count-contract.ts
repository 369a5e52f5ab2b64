import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Session } from '../../domain/session.js';
import type { SessionEnd, Store, StoreTx } from '../store.js';
import { T0, freshGateway, kysely, makeAudit, makeIntent, makeSession, type ContractContext } from './fixtures.js';

const ECHO: SessionEnd = { endedAt: T0 + 10, cause: 'ADMIN_DISCONNECT' };
const ADMIN: SessionEnd = {
  endedAt: T0 + 20,
  cause: 'ADMIN_DISCONNECT',
  endedByTokenId: 'tok_aaaaaaaaaaaa',
  endedByName: 'ops',
  endReason: 'abuse',
};

/** COUNT(*) over the online rows, what the counter table must always agree with. */
async function groundTruth(store: Store, gatewayId?: string): Promise<number> {
  const where = gatewayId === undefined ? sql`` : sql`and gateway_id = ${gatewayId}`;
  const { rows } = await sql<{
    n: number | string;
  }>`select count(*) as n from sessions where ended_at is null ${where}`.execute(kysely(store).db);
  return Number(rows[0]!.n);
}

/** Every count the store answers from the counters equals the ground truth, for these gateways and in total. */
async function assertExact(store: Store, gateways: string[], expected?: number[]): Promise<void> {
  const counts = await store.gateways.onlineCounts();
  for (const [i, gw] of gateways.entries()) {
    const truth = await groundTruth(store, gw);
    if (expected) assert.equal(truth, expected[i], `ground truth of ${gw}`);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), truth, `countOnline of ${gw}`);
    assert.equal(counts.get(gw) ?? 0, truth, `onlineCounts of ${gw}`);
    assert.equal(counts.has(gw), truth !== 0, 'a gateway with none online is absent');
  }
  assert.equal(await store.sessions.countOnline(), await groundTruth(store), 'countOnline()');
  assert.equal(await store.sessions.countOnline({}), await groundTruth(store), 'countOnline({})');
}

/**
 * The online counts that the database keeps in a counter table by triggers: exact after every kind
 * of write, rolled back with their transaction, and exact under concurrent writers.
 */
export function onlineCountContract(ctx: ContractContext): void {
  test('online counts follow inserts, insertIfAbsent conflicts, ends and claimed echoes', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const sessions = [makeSession(gw), makeSession(gw), makeSession(gw), makeSession(other)];
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    await assertExact(store, [gw, other], [3, 1]);

    // A conflicting ref inserts nothing and counts nothing; an already ended row is not online.
    assert.equal(await store.sessions.insertIfAbsent({ ...makeSession(gw), ref: sessions[0]!.ref }), false);
    assert.equal(await store.sessions.insertIfAbsent(makeSession(gw)), true);
    await store.sessions.insertIfAbsent(makeSession(gw, { endedAt: T0 + 1, endCause: 'CLIENT_DISCONNECT' }));
    await assertExact(store, [gw, other], [4, 1]);

    assert.ok(await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 5, cause: 'CLIENT_DISCONNECT' }));
    assert.equal(
      await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 6, cause: 'CLIENT_DISCONNECT' }),
      null,
    );
    await assertExact(store, [gw, other], [3, 1]);

    // The echo ends the session once; claiming it rewrites an ended row and must not count again.
    assert.ok(await store.sessions.markEnded(sessions[1]!.id, ECHO));
    assert.ok(await store.sessions.markEnded(sessions[1]!.id, ADMIN, { claimEcho: true }));
    assert.ok(await store.sessions.markEnded(sessions[2]!.id, ADMIN, { claimEcho: true }));
    await assertExact(store, [gw, other], [1, 1]);

    // Stats updates leave the counts alone; a filter beyond the gateway still counts rows.
    await store.sessions.updateStats(sessions[3]!.id, { bytesReceived: 5, bytesSent: 6, lastSeenAt: T0 + 30 });
    assert.ok(await store.sessions.markEnded(sessions[3]!.id, { endedAt: T0 + 40, cause: 'GATEWAY_RESTART' }));
    await assertExact(store, [gw, other], [1, 0]);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, protocol: 'openvpn' }), 1);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, userName: undefined }), 1);
  });

  test('online counts: a rolled-back transaction leaves them as they were', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const kept = [makeSession(gw), makeSession(gw)];
    for (const s of kept) await store.sessions.insertIfAbsent(s);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.sessions.insertIfAbsent(makeSession(gw));
        await tx.sessions.insertIfAbsent(makeSession(gw));
        await tx.sessions.markEnded(kept[0]!.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' });
        assert.equal(await tx.sessions.countOnline({ gatewayId: gw }), 3, 'the transaction sees its own counts');
        throw new Error('roll back');
      }),
      /roll back/,
    );
    await assertExact(store, [gw], [2]);
  });

  test('online counts: rows deleted or moved to another gateway', async () => {
    const store = ctx.store();
    const db = kysely(store).db;
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const [a, b, c] = [
      makeSession(gw),
      makeSession(gw),
      makeSession(gw, { endedAt: T0 + 1, endCause: 'CLIENT_DISCONNECT' }),
    ];
    for (const s of [a!, b!, c!]) await store.sessions.insertIfAbsent(s);
    await db.updateTable('sessions').set({ gateway_id: other }).where('id', 'in', [a!.id, c!.id]).execute();
    await assertExact(store, [gw, other], [1, 1]);
    await db.updateTable('sessions').set({ ended_at: null, end_cause: null }).where('id', '=', c!.id).execute();
    await assertExact(store, [gw, other], [1, 2]);
    await db.deleteFrom('sessions').where('gateway_id', 'in', [gw, other]).execute();
    await assertExact(store, [gw, other], [0, 0]);
  });

  test('online counts stay exact under 8 concurrent transactions writing the same gateway', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const existing = Array.from({ length: 40 }, () => makeSession(gw));
    for (const s of existing) await store.sessions.insertIfAbsent(s);
    // Each transaction inserts 20 and ends 10 (5 of its own, 5 of the existing ones, which a plain
    // markEnded beside it races for); on PostgreSQL each runs on its own pooled connection.
    const writers = Array.from({ length: 8 }, (_, w) =>
      store.transaction(async (tx) => {
        const mine = Array.from({ length: 20 }, () => makeSession(gw));
        for (const s of mine.slice(0, 10)) await tx.sessions.insertIfAbsent(s);
        await sleep(5);
        for (const s of mine.slice(10)) await tx.sessions.insertIfAbsent(s);
        for (const s of mine.slice(0, 5))
          await tx.sessions.markEnded(s.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' });
        for (const s of existing.slice(w * 5, w * 5 + 5))
          await tx.sessions.markEnded(s.id, { endedAt: T0 + 2, cause: 'GATEWAY_RESTART' });
      }),
    );
    const racers = existing.map((s) => store.sessions.markEnded(s.id, { endedAt: T0 + 3, cause: 'CLIENT_DISCONNECT' }));
    await Promise.all([...writers, ...racers]);
    // 40 existing all end (by a transaction or a racer); 8 × 20 inserted, 8 × 5 of them ended.
    await assertExact(store, [gw], [8 * 15]);
    if (store.dialect === 'postgres') {
      const { rows } = await sql<{ shards: number | string }>`
        select count(distinct shard) as shards from session_online_counts where gateway_id = ${gw}`.execute(
        kysely(store).db,
      );
      assert.ok(Number(rows[0]!.shards) > 1, 'concurrent writers add to different shards');
    }
  });

  test('online counts: more writers of one gateway than shards hold them at once, none waits', async () => {
    const first = ctx.store();
    if (first.dialect !== 'postgres') {
      // SQLite has one writer at a time: the 20 transactions queue, and the counts still come out exact.
      const gw = await freshGateway(first);
      await Promise.all(
        Array.from({ length: 20 }, () => first.transaction((tx) => tx.sessions.insertIfAbsent(makeSession(gw)))),
      );
      await assertExact(first, [gw], [20]);
      return;
    }
    // Two stores, two pools of 10 connections: 20 transactions each hold a counter row of the gateway
    // at the same time, more than its 16 shards. Before the shard rows existed up front, the 17th
    // waited for a shard another held, and the barrier below was never reached.
    const second = await ctx.open();
    try {
      const gw = await freshGateway(first);
      const ended = makeSession(gw);
      await first.sessions.insertIfAbsent(ended);
      const writers = 20;
      let arrived = 0;
      let open!: () => void;
      const barrier = new Promise<void>((resolve) => (open = resolve));
      const all = Array.from({ length: writers }, (_, w) =>
        (w % 2 === 0 ? first : second).transaction(async (tx) => {
          await tx.sessions.insertIfAbsent(makeSession(gw));
          if (++arrived === writers) open();
          await barrier;
        }),
      );
      const reached = await Promise.race([
        barrier.then(() => 'all hold a counter'),
        sleep(10_000).then(() => 'one waited'),
      ]);
      open(); // let them finish either way
      const results = await Promise.allSettled(all);
      assert.equal(reached, 'all hold a counter');
      assert.deepEqual(
        results.filter((r) => r.status === 'rejected'),
        [],
        'no writer failed',
      );
      await assertExact(first, [gw], [writers + 1]);

      // The writers beyond the 16 shards added to spill rows; the next write folds them into a shard.
      const spill = sql<{ n: number | string }>`
        select count(*) as n from session_online_counts where gateway_id = ${gw} and shard >= 16`;
      assert.ok(Number((await spill.execute(kysely(first).db)).rows[0]!.n) > 0, 'the crowd spilled');
      assert.ok(await first.sessions.markEnded(ended.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' }));
      assert.equal(Number((await spill.execute(kysely(first).db)).rows[0]!.n), 0, 'spill rows folded');
      await assertExact(first, [gw], [writers]);
    } finally {
      await second.close();
    }
  });

  test('online counts: writes beside an open transaction of the same gateway do not wait for it', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const existing = Array.from({ length: 16 }, () => makeSession(gw));
    for (const s of existing) await store.sessions.insertIfAbsent(s);
    let wrote!: () => void;
    let release!: () => void;
    const written = new Promise<void>((resolve) => (wrote = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    // A holds a counter row of the gateway until it commits, like a long sync batch.
    const a = store.transaction(async (tx) => {
      await tx.sessions.insertIfAbsent(makeSession(gw));
      wrote();
      await released;
    });
    await written;
    const beside = (async () => {
      for (const s of existing) {
        await store.sessions.insertIfAbsent(makeSession(gw));
        await store.sessions.markEnded(s.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' });
      }
      return 'done';
    })();
    try {
      // SQLite has one connection: there the writes queue behind A by design.
      if (store.dialect === 'postgres') {
        assert.equal(await Promise.race([beside, sleep(5_000).then(() => 'waited')]), 'done');
      }
    } finally {
      release();
    }
    await a;
    assert.equal(await beside, 'done');
    await assertExact(store, [gw], [17]);
  });

  test('online counts stay exact under concurrent random mixes of every session write', async () => {
    // Every statement that writes `sessions` (inserts with and without conflicts, refs given away by
    // ended rows, ends one by one, many at once and with final counters, claimed echoes, settled
    // intents, counter refreshes) in random mixes: alone, or several in one transaction, some rolled
    // back, some holding their counter rows a while, from 12 concurrent workers. On PostgreSQL the
    // shard locks, the spill rows and their fold, and the UPDATE triggers' staging by backend pid all
    // run concurrently (a crowd holding every shard of one gateway makes writers spill); on SQLite the
    // same mixes queue on its one writer. Then the counters must equal the online rows per gateway.
    const first = ctx.store();
    const postgres = first.dialect === 'postgres';
    const stores = postgres ? [first, await ctx.open(), await ctx.open()] : [first];
    try {
      const gateways = [await freshGateway(first), await freshGateway(first)];
      const random = seeded(0x5eed);
      const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(random() * list.length)];
      // The sessions of units that committed: what the changes and conflicting inserts aim at (never a row still
      // uncommitted in another transaction, which would only make writers wait for each other).
      const known: Session[] = [];
      const some = (n: number): string[] => [
        ...new Set(Array.from({ length: n }, () => pick(known)?.id).filter((id): id is string => id !== undefined)),
      ];
      type Write = (tx: StoreTx, mine: Session[]) => Promise<unknown>;
      const inserts: Write[] = [
        (tx, mine) => tx.sessions.insertIfAbsent(remember(mine, makeSession(pick(gateways)!))),
        (tx, mine) =>
          tx.sessions.insertIfAbsent(
            remember(mine, makeSession(pick(gateways)!, { endedAt: T0 + 1, endCause: 'CLIENT_DISCONNECT' })),
          ),
        // A ref already taken: nothing, or (an ended row's, by a later connection) the ref given away.
        (tx, mine) => {
          const taken = pick(known);
          if (!taken) return Promise.resolve();
          const later = makeSession(taken.gatewayId, { ref: taken.ref, connectedAt: T0 + 100 });
          return tx.sessions.insertIfAbsent(remember(mine, later));
        },
        (tx, mine) => {
          const batch = Array.from({ length: 1 + Math.floor(random() * 4) }, () => makeSession(pick(gateways)!));
          const taken = pick(known);
          if (taken) batch.push(makeSession(taken.gatewayId, { ref: taken.ref, connectedAt: T0 + 100 }));
          return tx.sessions.insertManyIfAbsent(batch.map((s) => remember(mine, s)));
        },
      ];
      const changes: Write[] = [
        (tx) => tx.sessions.markEnded(pick(known)?.id ?? 'none', { endedAt: T0 + 2, cause: 'CLIENT_DISCONNECT' }),
        (tx) => tx.sessions.markEnded(pick(known)?.id ?? 'none', ECHO),
        (tx) => tx.sessions.markEnded(pick(known)?.id ?? 'none', ADMIN, { claimEcho: true }),
        (tx) => tx.sessions.markEndedMany(some(5), { endedAt: T0 + 3, cause: 'GATEWAY_RESTART' }),
        (tx) => tx.sessions.markEndedMany(some(5), ADMIN, { claimEcho: true }),
        (tx) =>
          tx.sessions.markEndedWithStats(
            some(5).map((id) => ({
              id,
              endedAt: T0 + 4,
              finalStats: { bytesReceived: 1, bytesSent: 2, lastSeenAt: T0 },
            })),
            { cause: 'ADMIN_DISCONNECT' },
            { claimEcho: random() < 0.5 },
          ),
        async (tx) => {
          const session = pick(known);
          if (!session) return;
          const intent = makeIntent({ sessionId: session.id, gatewayId: session.gatewayId });
          if (!(await tx.intents.insertIfNoPending(intent))) return;
          const row = makeAudit({ outcome: 'SUCCESS', targetSessionId: session.id });
          await tx.intents.settleDone(intent.id, T0 + 5, session.id, { ...ADMIN, endedAt: T0 + 5 }, row);
        },
        (tx) =>
          tx.sessions.updateStats(pick(known)?.id ?? 'none', { bytesReceived: 3, bytesSent: 4, lastSeenAt: T0 + 6 }),
        (tx) => {
          const gw = pick(gateways)!;
          const rows = known.filter((s) => s.gatewayId === gw).slice(-10);
          return tx.sessions.updateStatsMany(
            gw,
            rows.map((s) => ({ id: s.id, bytesReceived: 5, bytesSent: 6, lastSeenAt: T0 + 7 })),
          );
        },
      ];
      // A unit: a few inserts (rows nobody else knows yet) and at most one write to existing rows, last,
      // so that transactions never wait for each other in a cycle (each such statement locks its rows
      // in id order); a few roll back, some keep their counter rows locked a while before committing.
      const unit = async (store: Store): Promise<void> => {
        const mine: Session[] = [];
        const writes = [...Array.from({ length: Math.floor(random() * 3) }, () => pick(inserts)!)];
        if (writes.length === 0 || random() < 0.6) writes.push(pick(changes)!);
        const rollBack = random() < 0.15;
        const hold = random() < 0.3 ? Math.floor(random() * 5) : 0;
        const run =
          writes.length === 1 && !rollBack && hold === 0
            ? writes[0]!(store, mine)
            : store.transaction(async (tx) => {
                for (const write of writes) await write(tx, mine);
                if (hold > 0) await sleep(hold);
                if (rollBack) throw new RolledBack();
              });
        await run.catch((e: unknown) => {
          // Rolled back on purpose: nothing of the unit stays, and the counts must stay exact. A
          // deadlock (40P01) fails the test: every multi-row write locks its rows in id order (it
          // once ended two multi-row refreshes of one gateway's rows, whose join took them in its own).
          if (!(e instanceof RolledBack)) throw e;
          mine.length = 0;
        });
        known.push(...mine);
      };
      // PostgreSQL: first a crowd of 18 transactions over the two other pools each takes a counter row
      // of the first gateway and holds it, so that the mix's writes of that gateway find all 16 shards
      // held and spill; halfway through the mix the crowd commits, and later writes fold the spills.
      let release = (): void => {};
      let crowd: Promise<unknown> = Promise.resolve();
      if (postgres) {
        const released = new Promise<void>((resolve) => (release = resolve));
        let arrived = 0;
        let allArrived = (): void => {};
        const allHold = new Promise<void>((resolve) => (allArrived = resolve));
        crowd = Promise.all(
          Array.from({ length: 18 }, (_, i) =>
            stores[1 + (i % 2)]!.transaction(async (tx) => {
              await tx.sessions.insertIfAbsent(makeSession(gateways[0]!));
              if (++arrived === 18) allArrived();
              await released;
            }),
          ),
        );
        const reached = await Promise.race([allHold.then(() => 'held'), sleep(10_000).then(() => 'waited')]);
        if (reached !== 'held') release();
        assert.equal(reached, 'held', 'the crowd holds its counter rows at once');
      }
      const workers = postgres ? 12 : 6;
      const units = postgres ? 30 : 60;
      let done = 0;
      let halfway = (): void => {};
      const half = new Promise<void>((resolve) => (halfway = resolve));
      const mix = Promise.all(
        Array.from({ length: workers }, async () => {
          for (let i = 0; i < units; i++) {
            await unit(first);
            if (++done === (workers * units) / 2) halfway();
          }
        }),
      );
      let spills = 0;
      try {
        await Promise.race([half, mix]);
        if (postgres) {
          const { rows } = await sql<{ n: number | string }>`
            select count(*) as n from session_online_counts where gateway_id = ${gateways[0]!} and shard >= 16`.execute(
            kysely(first).db,
          );
          spills = Number(rows[0]!.n);
        }
      } finally {
        release();
      }
      if (postgres) assert.ok(spills > 0, 'writers beside the crowd spilled');
      await Promise.all([mix, crowd]);
      await assertExact(first, gateways);
      assert.ok(known.length > 100, `${known.length} sessions written`);
      if (postgres) {
        const staged = await sql<{ n: number | string }>`
          select count(*) as n from session_online_count_changes`.execute(kysely(first).db);
        assert.equal(Number(staged.rows[0]!.n), 0, 'no staged change outlives its statement');
      }
    } finally {
      for (const store of stores.slice(1)) await store.close();
    }
  });
}

/** A transaction the test rolls back on purpose. */
class RolledBack extends Error {}

/** `session`, noted as written by the current unit (known to the others once it committed). */
function remember(mine: Session[], session: Session): Session {
  mine.push(session);
  return session;
}

/** A small seeded generator (mulberry32): every run draws from the same stream (how the workers interleave still varies). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
