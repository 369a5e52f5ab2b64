/**
 * The online-counters migration on a database that already has sessions: it must start from the
 * sessions that are there, not from zero.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Kysely, Migrator, sql, type Migration } from 'kysely';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import type { Database } from './database.js';
import { createDialect, parseDatabaseUrl } from './dialect.js';
import { openStore } from './kysely-store.js';
import { migrationProvider } from './migrations/migration-provider.js';

const COUNTERS = '202611292000-online-counters';
const T0 = 1_767_225_600_000;

/** Migrates `url` up to, not including, the counters migration, and writes sessions the old way. */
async function seedBeforeCounters(url: string): Promise<void> {
  const { dialect, name } = createDialect(parseDatabaseUrl(url));
  const db = new Kysely<Database>({ dialect });
  try {
    const all = await migrationProvider(name).getMigrations();
    const earlier: Record<string, Migration> = {};
    for (const [id, migration] of Object.entries(all)) if (id < COUNTERS) earlier[id] = migration;
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => earlier } }).migrateToLatest();
    if (error) throw error;

    for (const gw of ['gw-a', 'gw-b', 'gw-c']) {
      await db
        .insertInto('gateways')
        .values({
          id: gw,
          name: gw,
          region: 'r',
          protocol: 'openvpn',
          mode: 'observe',
          agent_connected: 0,
          last_seen_at: null,
          daemon_started_at: null,
        })
        .execute();
    }
    // gw-a: 3 online + 1 ended; gw-b: 1 online; gw-c: 2 ended.
    const rows: [string, boolean][] = [
      ['gw-a', true],
      ['gw-a', true],
      ['gw-a', true],
      ['gw-a', false],
      ['gw-b', true],
      ['gw-c', false],
      ['gw-c', false],
    ];
    await db
      .insertInto('sessions')
      .values(
        rows.map(([gw, online], i) => ({
          id: `sess_${String(i).padStart(12, '0')}`,
          gateway_id: gw,
          ref: `r${i}`,
          user_id: 'usr_a',
          user_name: 'a',
          common_name: null,
          client_address: null,
          client_ip: null,
          virtual_address: null,
          virtual_address6: null,
          protocol: 'openvpn',
          connected_at: T0 + i,
          last_seen_at: T0 + i,
          bytes_received: 0,
          bytes_sent: 0,
          client_version: null,
          client_platform: null,
          ended_at: online ? null : T0 + 100,
          end_cause: online ? null : 'CLIENT_DISCONNECT',
          ended_by_token_id: null,
          ended_by_name: null,
          end_reason: null,
        })),
      )
      .execute();
    const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    assert.ok(!applied.rows.some((r) => r.name === COUNTERS));
  } finally {
    await db.destroy();
  }
}

async function checkUpgrade(url: string): Promise<void> {
  await seedBeforeCounters(url);
  const store = await openStore(url);
  try {
    assert.equal(await store.sessions.countOnline(), 4);
    assert.equal(await store.sessions.countOnline({ gatewayId: 'gw-a' }), 3);
    assert.equal(await store.sessions.countOnline({ gatewayId: 'gw-c' }), 0);
    assert.deepEqual([...(await store.gateways.onlineCounts())].sort(), [
      ['gw-a', 3],
      ['gw-b', 1],
    ]);
    // And the triggers carry on from there.
    assert.ok(await store.sessions.markEnded('sess_000000000000', { endedAt: T0 + 200, cause: 'CLIENT_DISCONNECT' }));
    assert.equal(await store.sessions.countOnline({ gatewayId: 'gw-a' }), 2);
  } finally {
    await store.close();
  }
}

const pgSkip = await postgresSkipReason();

describe('online-counters migration on a database with sessions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-counters-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('SQLite: counts start from the sessions already online', async () => {
    await checkUpgrade(`sqlite:${join(dir, 'upgrade.db')}`);
  });

  test('PostgreSQL: counts start from the sessions already online', { skip: pgSkip }, async () => {
    const fresh = await createFreshPostgresDatabase();
    try {
      await checkUpgrade(fresh.url);
    } finally {
      await fresh.drop();
    }
  });
});
