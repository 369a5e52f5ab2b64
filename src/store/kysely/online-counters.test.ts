/**
 * The online-counters migration on a database that already has sessions: it must start from the
 * sessions that are there, not from zero.
 */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openStore } from './kysely-store.js';
import { onBothStores, seedBefore } from './upgrade.test-support.js';

const COUNTERS = '202611292000-online-counters';
const T0 = 1_767_225_600_000;

/** Migrates `url` up to, not including, the counters migration, and writes sessions the old way. */
async function seedBeforeCounters(url: string): Promise<void> {
  await seedBefore(url, COUNTERS, async (db) => {
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
  });
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

onBothStores(
  'online-counters migration on a database with sessions',
  'counts start from the sessions already online',
  checkUpgrade,
);
