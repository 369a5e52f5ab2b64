import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { parseDatabaseUrl } from './dialect.js';
import { openStore } from './kysely-store.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-dialect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('parseDatabaseUrl', () => {
  test('PostgreSQL URLs in both spellings', () => {
    assert.deepEqual(parseDatabaseUrl('postgres://u:p@db:5432/sb'), {
      dialect: 'postgres',
      url: 'postgres://u:p@db:5432/sb',
    });
    assert.deepEqual(parseDatabaseUrl('postgresql://db/sb'), { dialect: 'postgres', url: 'postgresql://db/sb' });
  });

  test('SQLite: memory, sqlite:, file:, file:// and plain paths', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite::memory:'), { dialect: 'sqlite', path: ':memory:' });
    assert.deepEqual(parseDatabaseUrl('sqlite:data/switchboard.db'), {
      dialect: 'sqlite',
      path: 'data/switchboard.db',
    });
    assert.deepEqual(parseDatabaseUrl('sqlite:/var/lib/sb.db'), { dialect: 'sqlite', path: '/var/lib/sb.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/sb.db'), { dialect: 'sqlite', path: '/var/lib/sb.db' });
    assert.deepEqual(parseDatabaseUrl('file:./sb.db'), { dialect: 'sqlite', path: './sb.db' });
    assert.deepEqual(parseDatabaseUrl(pathToFileURL('/var/lib/sb db.db').href), {
      dialect: 'sqlite',
      path: '/var/lib/sb db.db',
    });
    assert.deepEqual(parseDatabaseUrl('./data/switchboard.db'), { dialect: 'sqlite', path: './data/switchboard.db' });
    assert.deepEqual(parseDatabaseUrl('/abs/sb.db'), { dialect: 'sqlite', path: '/abs/sb.db' });
  });

  test('unsupported schemes and an empty URL throw a clear error', () => {
    assert.throws(() => parseDatabaseUrl('mysql://db/sb'), /Unsupported database URL scheme "mysql:"/);
    assert.throws(() => parseDatabaseUrl('redis://localhost'), /Unsupported database URL scheme/);
    assert.throws(() => parseDatabaseUrl('  '), /empty/);
  });
});

describe('openStore on SQLite', () => {
  test('rejects an unsupported scheme before touching anything', async () => {
    await assert.rejects(openStore('mongodb://localhost/sb'), /Unsupported database URL scheme "mongodb:"/);
  });

  test('sqlite::memory: opens a migrated, working store', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      assert.equal(store.dialect, 'sqlite');
      await store.gateways.upsert({ id: 'gw-mem', name: 'Mem', region: 'r', protocol: 'openvpn', mode: 'observe' });
      assert.equal((await store.gateways.findById('gw-mem'))?.name, 'Mem');
    } finally {
      await store.close();
    }
  });

  test('a file store creates its directory and runs with WAL, foreign keys and a busy timeout', async () => {
    const path = join(dir, 'a', 'b', 'switchboard.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      assert.ok(existsSync(path));
      const pragma = async (name: string) =>
        (await sql<Record<string, unknown>>`select * from ${sql.raw(`pragma_${name}`)}`.execute(store.db)).rows[0];
      assert.deepEqual(await pragma('journal_mode'), { journal_mode: 'wal' });
      assert.deepEqual(await pragma('foreign_keys'), { foreign_keys: 1 });
      // Statement journals in memory: with them in temporary files every trigger-firing write paid for it.
      assert.deepEqual(await pragma('temp_store'), { temp_store: 2 });
      assert.ok(Number(Object.values((await pragma('busy_timeout')) ?? {})[0]) > 0);
    } finally {
      await store.close();
      await store.close();
    }
  });

  test('a directory that cannot be made is an error naming the path, not a hang (under /proc)', async () => {
    // Node's recursive mkdirSync spins forever here; the store must answer with the system's reason.
    await assert.rejects(openStore('sqlite:/proc/switchboard-none/sub/switchboard.db'), (e: unknown) => {
      assert.match(String((e as Error).message), /ENOENT|no such file/i);
      assert.match(String((e as Error).message), /\/proc\/switchboard-none/);
      return true;
    });
  });

  test('a transaction takes the write lock when it begins (BEGIN IMMEDIATE)', async () => {
    const path = join(dir, 'immediate.db');
    const mine = await openStore(path);
    // A second connection to the same file stands in for another process.
    const other = await openStore(path);
    try {
      await mine.gateways.upsert({ id: 'gw-lock', name: 'Lock', region: 'r', protocol: 'openvpn', mode: 'observe' });
      await sql`pragma busy_timeout = 0`.execute(other.db);
      await mine.transaction(async (tx) => {
        // Only a read so far: a deferred BEGIN would hold no write lock yet and let `other` write.
        assert.equal((await tx.gateways.findById('gw-lock'))?.name, 'Lock');
        // Past its busy timeout the store answers STORE_UNAVAILABLE (HTTP 503); the cause is SQLite's lock.
        await assert.rejects(
          other.gateways.setAgentStatus('gw-lock', { agentConnected: true, lastSeenAt: 1 }),
          (e: unknown) => /locked|busy/i.test(String((e as { cause?: { message?: string } }).cause?.message ?? e)),
        );
        await tx.gateways.setAgentStatus('gw-lock', { agentConnected: true, lastSeenAt: 2 });
      });
      assert.equal((await other.gateways.findById('gw-lock'))?.lastSeenAt, 2);
    } finally {
      await other.close();
      await mine.close();
    }
  });
});
