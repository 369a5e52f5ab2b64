import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { KyselyStore } from '../kysely/kysely-store.js';
import type { ContractContext } from './fixtures.js';

/** Readiness (`GET /readyz`): the database answers and every migration is applied. */
export function readinessContract(ctx: ContractContext): void {
  test('checkReady: ok on a migrated store; names a migration that is not applied; ok again once it is', async () => {
    const store = ctx.store();
    assert.deepEqual(await store.checkReady(2_000), { ok: true });
    assert.ok(store instanceof KyselyStore);
    // Pretend the newest migration was never applied (a replica newer than the database's schema).
    const owner = (await ctx.ownerDb?.()) ?? store.db;
    const rows = await sql<{
      name: string;
      timestamp: string;
    }>`select name, timestamp from kysely_migration order by name desc`.execute(owner);
    const newest = rows.rows[0]!;
    await sql`delete from kysely_migration where name = ${newest.name}`.execute(owner);
    try {
      assert.deepEqual(await store.checkReady(2_000), {
        ok: false,
        check: 'migrations',
        detail: `not applied: ${newest.name}`,
      });
    } finally {
      await sql`insert into kysely_migration (name, timestamp) values (${newest.name}, ${newest.timestamp})`.execute(
        owner,
      );
    }
    assert.deepEqual(await store.checkReady(2_000), { ok: true });
  });

  test('checkReady on a closed store says the store failed, and does not throw', async () => {
    const other = await ctx.open();
    await other.close();
    const r = await other.checkReady(2_000);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.check, 'store');
  });
}
