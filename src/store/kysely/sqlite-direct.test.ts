import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Gateway } from '../../domain/gateway.js';
import { makeGateway, makeSession } from '../contract/fixtures.js';
import { openStore, type KyselyStore } from './kysely-store.js';
import { KyselySessionRepository } from './session-repository.js';
import { runDirectly } from './sqlite-direct.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-direct-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A SQLite store (a file, as the server's) with `sessions` online sessions (one by default) on one gateway. */
async function withStore(
  fn: (store: KyselyStore, sessionId: string, more: { gatewayId: string; sessionIds: string[] }) => Promise<void>,
  sessions = 1,
): Promise<void> {
  const store = await openStore(`sqlite:${join(dir, `s${n++}.db`)}`);
  try {
    const gateway = makeGateway();
    await store.gateways.upsert(gateway);
    const sessionIds: string[] = [];
    for (let i = 0; i < sessions; i++) {
      const session = makeSession(gateway.id);
      await store.sessions.insertIfAbsent(session);
      sessionIds.push(session.id);
    }
    await fn(store, sessionIds[0]!, { gatewayId: gateway.id, sessionIds });
  } finally {
    await store.close();
  }
}

/**
 * Runs `write` and checks that the read cache's plugin saw none of it: the write ran on the connection
 * directly, so only the direct path's own invalidation can tell the cache of it. (The first run of a
 * precompiled statement on a store compiles it through Kysely, whose plugins then see the tree: the
 * cache's drops the written table. A kept bulk text is first run through Kysely's path too. That is
 * why every case below runs its statement once before the write it checks.)
 */
async function unseenByPlugin(store: KyselyStore, write: () => Promise<unknown>): Promise<void> {
  const plugins = store.db.getExecutor().plugins;
  assert.equal(plugins.length, 1, "the read cache's plugin, alone");
  const plugin = plugins[0]!;
  const { transformQuery, transformResult } = plugin;
  let seen = 0;
  plugin.transformQuery = (args) => (seen++, transformQuery.call(plugin, args));
  plugin.transformResult = (args) => (seen++, transformResult!.call(plugin, args));
  try {
    await write();
  } finally {
    plugin.transformQuery = transformQuery;
    plugin.transformResult = transformResult;
  }
  assert.equal(seen, 0, "the write ran directly: the read cache's plugin saw none of it");
}

/**
 * `read`'s answer before and after a direct `write`, and whether the write moved the cached tables on
 * (`readVersion`). The first answer is the cache's (the same shared answer twice), so without the
 * direct path's invalidation the second is that same, stale one.
 */
async function aroundDirectWrite<T>(
  store: KyselyStore,
  read: () => Promise<T>,
  write: () => Promise<unknown>,
): Promise<{ before: T; after: T; moved: boolean }> {
  const cached = read();
  assert.equal(read(), cached, 'answered from the cache');
  const before = await cached;
  const version = store.readVersion();
  await unseenByPlugin(store, write);
  const moved = store.readVersion() !== version;
  return { before, after: await read(), moved };
}

const COUNT = 'select count(*) as n from sessions where ended_at is null';

describe('SQLite: precompiled statements run on the connection directly', () => {
  test('in a transaction: directly, and rolled back with it', async () => {
    await withStore(async (store, id) => {
      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          assert.deepEqual(runDirectly(trx, COUNT, null, [])?.rows, [{ n: 1 }], 'run directly in the transaction');
          assert.ok(
            await new KyselySessionRepository(trx, 'sqlite').markEnded(id, { endedAt: 1, cause: 'CLIENT_DISCONNECT' }),
          );
          assert.deepEqual(runDirectly(trx, COUNT, null, [])?.rows, [{ n: 0 }], 'sees its own write');
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal((await store.sessions.findOnline(id))?.id, id, 'the direct write was rolled back');
    });
  });

  test('outside a transaction: in turn, never ahead of a transaction that asked for the connection first', async () => {
    await withStore(async (store, id) => {
      assert.ok(runDirectly(store.db, COUNT, null, []), 'runs directly while no one holds the connection');
      const ending = store.transaction((tx) => tx.sessions.markEnded(id, { endedAt: 1, cause: 'CLIENT_DISCONNECT' }));
      assert.equal(
        runDirectly(store.db, COUNT, null, []),
        null,
        'waits (through Kysely) while a transaction is queued',
      );
      // Asked after the transaction: answered after its commit, so the session is no longer online.
      assert.equal(await store.sessions.findOnline(id), null);
      assert.ok(await ending);
      assert.ok(runDirectly(store.db, COUNT, null, []), 'directly again once the connection is free');
    });
  });

  // Each write below changes what a cached read answers and runs directly (checked): a stale answer
  // after it means the direct path did not tell the cache of the table it wrote.
  const END = { cause: 'CLIENT_DISCONNECT' } as const;

  test("a direct write is seen by the read cache at once: markEnded (a disconnect's end)", async () => {
    await withStore(async (store, _, { sessionIds: [a, b, c] }) => {
      assert.ok(await store.sessions.markEnded(a!, { ...END, endedAt: 1 }), 'compiled on its first run');
      const count = () => store.sessions.countOnline();
      const outside = await aroundDirectWrite(store, count, () => store.sessions.markEnded(b!, { ...END, endedAt: 2 }));
      assert.deepEqual(outside, { before: 2, after: 1, moved: true });
      // In a transaction (the disconnect's shape): told at the statement, read after the commit.
      const inside = await aroundDirectWrite(store, count, () =>
        store.transaction((tx) => tx.sessions.markEnded(c!, { ...END, endedAt: 3 })),
      );
      assert.deepEqual(inside, { before: 1, after: 0, moved: true });
    }, 3);
  });

  test('a direct write is seen by the read cache at once: markEndedWithStats (a run of ends)', async () => {
    await withStore(async (store, _, { sessionIds: [a, b] }) => {
      const endWithStats = (id: string) =>
        store.sessions.markEndedWithStats(
          [{ id, endedAt: 1, finalStats: { bytesReceived: 1, bytesSent: 1, lastSeenAt: 1 } }],
          END,
        );
      assert.equal((await endWithStats(a!)).length, 1, 'compiled on its first run');
      const around = await aroundDirectWrite(
        store,
        () => store.sessions.countOnline(),
        () => endWithStats(b!),
      );
      assert.deepEqual(around, { before: 1, after: 0, moved: true });
    }, 2);
  });

  test("a direct write is seen by the read cache at once: insertManyIfAbsent (a bulk insert's kept text)", async () => {
    await withStore(async (store, _, { gatewayId }) => {
      const insert = async () =>
        assert.equal((await store.sessions.insertManyIfAbsent([makeSession(gatewayId)])).size, 1);
      await insert(); // through Kysely, and its text (one row) is kept
      const around = await aroundDirectWrite(store, () => store.sessions.countOnline(), insert);
      assert.deepEqual(around, { before: 2, after: 3, moved: true });
    });
  });

  test("a direct write is seen by the read cache at once: recordHeartbeat (a gateway's status)", async () => {
    await withStore(async (store, _, { gatewayId }) => {
      const gateway = makeGateway({ id: gatewayId });
      const beat = (agentConnected: boolean, lastSeenAt: number) =>
        store.gateways.recordHeartbeat(gateway, { agentConnected, lastSeenAt, daemonResponding: true });
      assert.ok(await beat(false, 1), 'compiled on its first run');
      const { before, after, moved } = await aroundDirectWrite(
        store,
        () => store.gateways.findById(gatewayId),
        () => beat(true, 2),
      );
      const status = (g: Gateway | null) => ({ agentConnected: g?.agentConnected, lastSeenAt: g?.lastSeenAt });
      assert.deepEqual(
        { before: status(before), after: status(after), moved },
        {
          before: { agentConnected: false, lastSeenAt: 1 },
          after: { agentConnected: true, lastSeenAt: 2 },
          moved: true,
        },
      );
    });
  });
});
