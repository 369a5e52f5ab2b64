import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
} from 'kysely';
import { databaseFor, postgresSkipReason } from '../../../test/support/postgres.js';
import { makeGateway, makeSession } from '../contract/fixtures.js';
import type { Database } from './database.js';
import { createDialect, parseDatabaseUrl } from './dialect.js';
import { KyselyGatewayRepository } from './gateway-repository.js';
import { Precompiled } from './precompiled.js';
import { migrateSchema } from './schema-migrator.js';
import { KyselySessionRepository } from './session-repository.js';

const pick = (db: Kysely<Database>, v: { id: string; user: string }) =>
  db.selectFrom('sessions').select(['id', 'user_name']).where('id', '=', v.id).where('user_name', '=', v.user).limit(5);
const byIdAndUser = new Precompiled(pick);
const rename = new Precompiled((db, v: { id: string; user: string }) =>
  db.updateTable('sessions').set({ user_name: v.user }).where('id', '=', v.id).where('ended_at', 'is', null),
);

/** What plugins are shown: each query's kind and id before it runs, the ids of the results after. */
class Recorder implements KyselyPlugin {
  readonly queries: { kind: string; queryId: QueryId }[] = [];
  readonly results: QueryId[] = [];
  transformQuery(args: PluginTransformQueryArgs) {
    this.queries.push({ kind: args.node.kind, queryId: args.queryId });
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs) {
    this.results.push(args.queryId);
    return args.result;
  }
}

const pgSkip = await postgresSkipReason();
for (const dialectName of ['sqlite', 'postgres'] as const) {
  describe(`Precompiled (${dialectName})`, { skip: dialectName === 'postgres' ? pgSkip : false }, () => {
    /** A migrated database with two sessions (alice, bob), every statement's SQL text logged. */
    async function withDatabase(
      fn: (db: Kysely<Database>, s: { a: string; b: string; sqls: string[]; recorder: Recorder }) => Promise<void>,
    ): Promise<void> {
      const fresh = await databaseFor(dialectName);
      const { dialect, name } = createDialect(parseDatabaseUrl(fresh.url));
      const sqls: string[] = [];
      const recorder = new Recorder();
      const db = new Kysely<Database>({
        dialect,
        plugins: [recorder],
        log: (e) => {
          if (e.level === 'query') sqls.push(e.query.sql);
        },
      });
      try {
        await migrateSchema(db, name);
        const gateway = makeGateway();
        await new KyselyGatewayRepository(db).upsert(gateway);
        const sessions = new KyselySessionRepository(db, name);
        const a = makeSession(gateway.id, { userName: 'alice' });
        const b = makeSession(gateway.id, { userName: 'bob' });
        await sessions.insertIfAbsent(a);
        await sessions.insertIfAbsent(b);
        sqls.length = 0;
        await fn(db, { a: a.id, b: b.id, sqls, recorder });
      } finally {
        await db.destroy();
        await fresh.drop();
      }
    }

    test("runs the builder's SQL text with each call's values in place and the builder's constants kept", () =>
      withDatabase(async (db, { a, b, sqls }) => {
        assert.deepEqual((await byIdAndUser.execute(db, { id: a, user: 'alice' })).rows, [
          { id: a, user_name: 'alice' },
        ]);
        assert.deepEqual((await byIdAndUser.execute(db, { id: b, user: 'bob' })).rows, [{ id: b, user_name: 'bob' }]);
        assert.deepEqual((await byIdAndUser.execute(db, { id: b, user: 'alice' })).rows, []);
        const built = pick(db, { id: a, user: 'alice' }).compile();
        assert.deepEqual(sqls, [built.sql, built.sql, built.sql]);
        assert.equal(built.parameters.length, 3, 'the limit is a parameter the builder set');
      }));

    test('runs in a transaction, and what it wrote rolls back with it', () =>
      withDatabase(async (db, { b }) => {
        await assert.rejects(
          db.transaction().execute(async (trx) => {
            assert.equal((await rename.execute(trx, { id: b, user: 'carol' })).numAffectedRows, 1n);
            assert.equal((await byIdAndUser.execute(trx, { id: b, user: 'carol' })).rows.length, 1);
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.equal((await byIdAndUser.execute(db, { id: b, user: 'bob' })).rows.length, 1);
        await db.transaction().execute((trx) => rename.execute(trx, { id: b, user: 'dave' }));
        assert.equal((await byIdAndUser.execute(db, { id: b, user: 'dave' })).rows.length, 1);
      }));

    test("plugins see every run, as a compiled query's: its tree before, its result after, under one new id", () =>
      withDatabase(async (db, { a, recorder }) => {
        recorder.queries.length = 0;
        recorder.results.length = 0;
        await rename.execute(db, { id: a, user: 'erin' });
        await rename.execute(db, { id: a, user: 'frank' });
        const runs = recorder.queries.filter((q) => q.kind === 'UpdateQueryNode');
        assert.ok(runs.length >= 2, 'each run shown to transformQuery');
        const [x, y] = runs.slice(-2);
        assert.notEqual(x!.queryId, y!.queryId);
        assert.ok(recorder.results.includes(x!.queryId) && recorder.results.includes(y!.queryId));
      }));

    test('a plugin that rewrites the statement makes the run fail rather than send other SQL', () =>
      withDatabase(async (db, { a }) => {
        await byIdAndUser.execute(db, { id: a, user: 'alice' }); // compiled without the rewrite
        const rewriting = db.withPlugin({
          transformQuery: (args) => ({ ...args.node }),
          transformResult: async (args) => args.result,
        });
        await assert.rejects(
          byIdAndUser.execute(rewriting, { id: a, user: 'alice' }),
          /rewrote a precompiled statement/,
        );
      }));

    test('a value the builder does not make a parameter is refused when the statement is compiled', () =>
      withDatabase(async (db, { a }) => {
        const constantUser = new Precompiled((d, v: { id: string; user: string }) =>
          d.selectFrom('sessions').select('id').where('id', '=', v.id).where('user_name', '=', 'alice'),
        );
        await assert.rejects(constantUser.execute(db, { id: a, user: 'bob' }), /the value "user" is not a parameter/);
      }));
  });
}
