import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeGateway, makeSession } from '../contract/fixtures.js';
import { openStore, type KyselyStore } from './kysely-store.js';
import { KyselySessionRepository } from './session-repository.js';
import { runDirectly } from './sqlite-direct.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-direct-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A SQLite store (a file, as the server's) with one online session. */
async function withStore(fn: (store: KyselyStore, sessionId: string) => Promise<void>): Promise<void> {
  const store = await openStore(`sqlite:${join(dir, `s${n++}.db`)}`);
  try {
    const gateway = makeGateway();
    await store.gateways.upsert(gateway);
    const session = makeSession(gateway.id);
    await store.sessions.insertIfAbsent(session);
    await fn(store, session.id);
  } finally {
    await store.close();
  }
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

  test('a direct write is seen by the read cache at once', async () => {
    await withStore(async (store, id) => {
      assert.equal(await store.sessions.countOnline(), 1);
      const before = store.readVersion();
      assert.ok(await store.sessions.markEnded(id, { endedAt: 1, cause: 'CLIENT_DISCONNECT' }));
      assert.notEqual(store.readVersion(), before, 'the write moved the cached tables on');
      assert.equal(await store.sessions.countOnline(), 0);
    });
  });
});
