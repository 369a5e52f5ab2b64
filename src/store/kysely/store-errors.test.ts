import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { DomainError } from '../../domain/errors.js';
import { isStoreUnavailable, withStoreErrors } from './store-errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

test('connection failures are "unavailable"; bugs and bad data are not', () => {
  for (const e of [
    withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
    withCode('terminating connection due to administrator command', '57P01'),
    withCode('too many connections for role "x"', '53300'),
    withCode('connection failure', '08006'),
    new Error('Connection terminated unexpectedly'),
    new Error('Client has encountered a connection error and is not queryable'),
    withCode('database is locked', 'SQLITE_BUSY'),
  ])
    assert.equal(isStoreUnavailable(e), true, e.message);
  for (const e of [
    withCode('duplicate key value', '23505'),
    withCode('syntax error', '42601'),
    new TypeError('x is undefined'),
    'text',
    null,
  ]) {
    assert.equal(isStoreUnavailable(e), false, String(e));
  }
});

test('through Kysely: an unavailable database becomes STORE_UNAVAILABLE once switched on; other errors pass unchanged', async () => {
  const sqlite = new Database(':memory:');
  const on = { active: false };
  const db = new Kysely<Record<string, never>>({
    dialect: withStoreErrors(new SqliteDialect({ database: sqlite }), undefined, on),
  });
  assert.deepEqual((await sql<{ one: number }>`select 1 as one`.execute(db)).rows, [{ one: 1 }]);
  await assert.rejects(
    sql`select * from missing`.execute(db),
    (e: unknown) => !(e instanceof DomainError) && /no such table/.test(String(e)),
  );
  const busy = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) =>
    text.includes('busy_probe')
      ? (() => {
          throw withCode('database is locked', 'SQLITE_BUSY');
        })()
      : busy(text)) as typeof sqlite.prepare;
  await assert.rejects(
    sql`select 1 as busy_probe`.execute(db),
    (e: unknown) => (e as { code?: string }).code === 'SQLITE_BUSY',
    'start-up keeps the detail',
  );
  on.active = true;
  await assert.rejects(
    sql`select 1 as busy_probe`.execute(db),
    (e: unknown) => e instanceof DomainError && e.code === 'STORE_UNAVAILABLE',
  );
  await assert.rejects(
    db.transaction().execute(async (tx) => sql`select 1 as busy_probe`.execute(tx)),
    (e: unknown) => e instanceof DomainError && e.code === 'STORE_UNAVAILABLE',
  );
  assert.deepEqual((await sql<{ one: number }>`select 1 as one`.execute(db)).rows, [{ one: 1 }], 'works again at once');
  await db.destroy();
});
