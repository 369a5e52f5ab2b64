import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import type { Database } from './database.js';
import { writtenTable } from './written-table.js';

const db = new Kysely<Database>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new SqliteIntrospector(k),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});
const tableOf = (q: { compile(): { query: Parameters<typeof writtenTable>[0] } }) => writtenTable(q.compile().query);

test('a read is null; an insert, update or delete names its table', () => {
  assert.equal(tableOf(db.selectFrom('sessions').selectAll()), null);
  assert.equal(tableOf(db.insertInto('audit_events').values({} as never)), 'audit_events');
  assert.equal(tableOf(db.updateTable('sessions').set({ ended_at: 1 })), 'sessions');
  assert.equal(tableOf(db.deleteFrom('gateways')), 'gateways');
});

test('a WITH that only reads keeps the main part’s answer; one that writes makes it any table', () => {
  const reading = db.with('online', (q) => q.selectFrom('sessions').select('id'));
  assert.equal(tableOf(reading.selectFrom('online').selectAll()), null);
  assert.equal(tableOf(reading.updateTable('gateways').set({ removed_at: 1 })), 'gateways');
  const updating = db.with('ended', (q) => q.updateTable('sessions').set({ ended_at: 1 }).returning('id'));
  assert.equal(tableOf(updating.selectFrom('ended').selectAll()), undefined, 'a SELECT that updates');
  assert.equal(
    tableOf(
      updating
        .insertInto('audit_events')
        .columns(['id'] as never)
        .expression((eb) => eb.selectFrom('ended').select('id')),
    ),
    undefined,
    'an insert that also updates elsewhere',
  );
  const nested = db.with('outer', (q) =>
    q
      .with('inner', (i) => i.deleteFrom('blocks').returning('user_name'))
      .selectFrom('inner')
      .selectAll(),
  );
  assert.equal(tableOf(nested.selectFrom('outer').selectAll()), undefined, 'a write nested in a WITH of a WITH');
});
