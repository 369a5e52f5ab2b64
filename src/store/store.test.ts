import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { openStore } from './kysely/kysely-store.js';
import { runStoreContract } from './store.contract.js';

// SQLite: a file in a fresh temp directory (WAL needs a real file), removed at the end.
const dir = mkdtempSync(join(tmpdir(), 'switchboard-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
runStoreContract('sqlite', () => openStore(`sqlite:${join(dir, 'nested', 'store.db')}`));

// PostgreSQL: a fresh database for this run, created on first open and dropped at the end.
const pgSkip = await postgresSkipReason();
let fresh: Awaited<ReturnType<typeof createFreshPostgresDatabase>> | null = null;
after(async () => {
  await fresh?.drop();
});
runStoreContract(
  'postgres',
  async () => {
    fresh ??= await createFreshPostgresDatabase();
    return openStore(fresh.url);
  },
  { skip: pgSkip },
);

test(
  'postgres: bigint parsing as numbers stays on the store’s pool, not pg’s global parsers',
  { skip: pgSkip },
  async () => {
    fresh ??= await createFreshPostgresDatabase();
    const store = await openStore(fresh.url);
    try {
      assert.equal(await store.sessions.countOnline({ gatewayId: 'gw-none' }), 0);
      assert.equal(pg.types.getTypeParser(20, 'text')('5'), '5');
    } finally {
      await store.close();
    }
  },
);
