import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { databaseFor, postgresSkipReason } from '../../../test/support/postgres.js';
import { freshGateway, makeSession } from '../contract/fixtures.js';
import { BulkInsert } from './bulk-insert.js';
import type { SessionTable } from './database.js';
import { openStore } from './kysely-store.js';
import { toRow } from './session-columns.js';

const pgSkip = await postgresSkipReason();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`BulkInsert (${dialect})`, { skip: dialect === 'postgres' ? pgSkip : false }, () => {
    test('rows of a count seen before reuse its text: every value stored, only inserted ids returned, cached reads see them', async () => {
      const fresh = await databaseFor(dialect);
      const store = await openStore(fresh.url);
      try {
        const gw = await freshGateway(store);
        let builds = 0;
        const insert = new BulkInsert((db, rows: SessionTable[]) => {
          builds++;
          return db
            .insertInto('sessions')
            .values(rows)
            .onConflict((oc) => oc.columns(['gateway_id', 'ref']).doNothing())
            .returning('id');
        });
        const a = [makeSession(gw, { ref: 'a1' }), makeSession(gw, { ref: 'a2', commonName: null })];
        assert.deepEqual(
          (await insert.execute(store.db, a.map(toRow))).map((r) => r.id).sort(),
          a.map((s) => s.id).sort(),
        );
        assert.equal(builds, 1);
        const page = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
        assert.equal(page.rows.length, 2);

        // Same count, other values (nulls elsewhere), one ref taken already: the kept text.
        const b = [
          makeSession(gw, { ref: 'a1' }),
          makeSession(gw, { ref: 'b2', virtualAddress6: 'fd00::2', clientVersion: null, transport: 'TCP' }),
        ];
        assert.deepEqual(
          (await insert.execute(store.db, b.map(toRow))).map((r) => r.id),
          [b[1]!.id],
        );
        assert.equal(builds, 1, 'the second call compiled nothing');
        assert.deepEqual(await store.sessions.findById(b[1]!.id), b[1]);
        assert.equal(await store.sessions.findById(b[0]!.id), null);
        for (const s of a) assert.deepEqual(await store.sessions.findById(s.id), s);
        const after = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
        assert.equal(after.rows.length, 3, 'the read cache saw the write');

        // A value Kysely would leave out (undefined): its own path, the column's default.
        const c = [makeSession(gw, { ref: 'c1' }), makeSession(gw, { ref: 'c2' })];
        const rows = c.map(toRow);
        (rows[1] as { common_name?: string | null }).common_name = undefined;
        assert.equal((await insert.execute(store.db, rows)).length, 2);
        assert.equal(builds, 2);
        assert.equal((await store.sessions.findById(c[1]!.id))?.commonName, null);
        assert.equal((await store.sessions.findById(c[0]!.id))?.commonName, c[0]!.commonName);

        // In a transaction (its own Kysely instance, the same database): the kept text again.
        const d = [makeSession(gw, { ref: 'd1' }), makeSession(gw, { ref: 'd2' })];
        await store.db.transaction().execute(async (trx) => {
          assert.equal((await insert.execute(trx, d.map(toRow))).length, 2);
        });
        assert.equal(builds, 2);
        assert.deepEqual(await store.sessions.findById(d[1]!.id), d[1]);
      } finally {
        await store.close();
        await fresh.drop();
      }
    });

    test('values bound after the rows (tail) are bound anew on each call of the kept text', async () => {
      const fresh = await databaseFor(dialect);
      const store = await openStore(fresh.url);
      try {
        const [g1, g2] = [await freshGateway(store), await freshGateway(store)];
        const s1 = makeSession(g1, { ref: 'x1' });
        const s2 = makeSession(g2, { ref: 'x2' });
        await store.sessions.insertManyIfAbsent([s1, s2]);
        let builds = 0;
        const update = new BulkInsert((db, rows: { id: string; sent: number }[], [gatewayId]) => {
          builds++;
          const values = sql.join(rows.map((r) => sql`(cast(${r.id} as text), cast(${r.sent} as bigint))`));
          const statement = sql`update sessions set bytes_sent = v.column2 from (values ${values}) as v
            where sessions.id = v.column1 and sessions.gateway_id = ${gatewayId}`;
          return { compile: () => statement.compile(db) };
        });
        const both = (sent: number) => [s1, s2].map((s) => ({ id: s.id, sent }));
        await update.execute(store.db, both(7), [g1]);
        await update.execute(store.db, both(9), [g2]);
        assert.equal(builds, 1, 'the second call compiled nothing');
        assert.equal((await store.sessions.findById(s1.id))?.bytesSent, 7, "narrowed to the first call's gateway");
        assert.equal((await store.sessions.findById(s2.id))?.bytesSent, 9, "and to the second call's");
      } finally {
        await store.close();
        await fresh.drop();
      }
    });
  });
}
