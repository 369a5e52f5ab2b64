import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { waitFor } from '../../../test/support/wait.js';
import { silentLogger } from '../../domain/logger.js';
import { openStore } from './kysely-store.js';
import { FALLBACK_AUTOCHECKPOINT_PAGES, LOG_SIZE_LIMIT_BYTES, SqliteCheckpointer } from './sqlite-checkpointer.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-checkpointer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A WAL file with a table, and about 2 MB of rows written to its log: far below the fallback's 10,000 pages. */
function walDatabase(name: string): { db: Database.Database; path: string; write: () => void } {
  const path = join(dir, name);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('create table t (id integer primary key, body text not null)');
  const insert = db.prepare('insert into t (body) values (?)');
  const write = db.transaction(() => {
    for (let i = 0; i < 2_000; i++) insert.run('x'.repeat(1_000));
  });
  return { db, path, write };
}

describe('SqliteCheckpointer: the log is copied into the file by a worker thread', () => {
  test('committed pages reach the database file without the writing connection checkpointing', async () => {
    const { db, path, write } = walDatabase('worker.db');
    const checkpointer = SqliteCheckpointer.start(db, undefined, 20);
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), FALLBACK_AUTOCHECKPOINT_PAGES);
      const before = statSync(path).size;
      write();
      await waitFor(() => (checkpointer.stats().last?.checkpointed ?? 0) >= 400, 10_000, 'a checkpoint of the rows');
      const { last } = checkpointer.stats();
      assert.ok(last!.log >= last!.checkpointed);
      assert.ok(
        statSync(path).size > before + 1_000_000,
        `the file grew from ${before} to ${statSync(path).size} bytes`,
      );
    } finally {
      await checkpointer.stop();
      db.close();
    }
    // Stopped, the worker's connection is closed: the writer's close was the last one, which
    // checkpoints and removes the log.
    assert.equal(existsSync(`${path}-wal`), false);
  });

  test('after a burst larger than the limit, the log file is cut back once it starts over', async () => {
    const { db, path } = walDatabase('burst.db');
    const checkpointer = SqliteCheckpointer.start(db, undefined, 20);
    try {
      const insert = db.prepare('insert into t (body) values (?)');
      db.transaction(() => {
        for (let i = 0; i < 20_000; i++) insert.run('x'.repeat(1_000));
      })();
      assert.ok(statSync(`${path}-wal`).size > LOG_SIZE_LIMIT_BYTES, 'the burst made the log larger than the limit');
      await waitFor(
        () => {
          const last = checkpointer.stats().last;
          return last !== null && last.checkpointed === last.log && last.log > 4_000;
        },
        10_000,
        'a complete checkpoint of the burst',
      );
      // The next write starts the log over, and the file is cut back to the limit.
      insert.run('y');
      assert.ok(statSync(`${path}-wal`).size <= LOG_SIZE_LIMIT_BYTES, `log file ${statSync(`${path}-wal`).size} bytes`);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  test('without it, the same writes stay in the log (what the test above would see if the worker did nothing)', async () => {
    const { db, path, write } = walDatabase('control.db');
    try {
      db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      const before = statSync(path).size;
      write();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(statSync(path).size, before);
      assert.ok(statSync(`${path}-wal`).size > 1_000_000);
    } finally {
      db.close();
    }
  });

  test('a worker that cannot open the file logs the error and hands checkpoints back to SQLite', async () => {
    const { db, path } = walDatabase('gone.db');
    const errors: string[] = [];
    const checkpointer = SqliteCheckpointer.start(db, { ...silentLogger, error: (_o, msg) => errors.push(msg ?? '') });
    // The writer keeps its open file; the worker, still starting, finds no file to open.
    unlinkSync(path);
    try {
      await waitFor(() => errors.length > 0, 10_000, 'the error');
      assert.match(errors[0]!, /checkpointer failed/);
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1_000);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  test('a file store runs one; an in-memory store has no log and none', async () => {
    const file = await openStore(join(dir, 'store.db'));
    const memory = await openStore('sqlite::memory:');
    try {
      const autocheckpoint = async (s: typeof file) =>
        (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(s.db)).rows[0]!
          .wal_autocheckpoint;
      assert.equal(await autocheckpoint(file), FALLBACK_AUTOCHECKPOINT_PAGES);
      assert.equal(await autocheckpoint(memory), 1_000);
    } finally {
      await file.close();
      await memory.close();
    }
    assert.equal(existsSync(join(dir, 'store.db-wal')), false, 'closing the store stopped the worker first');
  });
});
