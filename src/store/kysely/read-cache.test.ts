import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import { freshGateway, makeSession, makeWebhook, T0 } from '../contract/fixtures.js';
import { openStore, type KyselyStore } from './kysely-store.js';
import { ReadCache } from './read-cache.js';

/** Resolves in the next event-loop turn, after this one's check-phase callbacks. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const dir = mkdtempSync(join(tmpdir(), 'switchboard-read-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("ReadCache: another process's commits", () => {
  test('its version is read once per event-loop turn, and a change drops every cached answer', async () => {
    let version = 1;
    let checks = 0;
    const cache = new ReadCache(() => {
      checks++;
      return version;
    });
    let loads = 0;
    const load = async () => ++loads;
    assert.equal(await cache.read('sessions', 'k', load), 1);
    assert.equal(await cache.read('sessions', 'k', load), 1);
    assert.equal(await cache.read('api_tokens', 'k', load), 2);
    assert.equal(checks, 1, 'three reads in one turn: one check');
    version = 2;
    // Same turn: the answers of this turn stand.
    assert.equal(await cache.read('sessions', 'k', load), 1);
    await nextTurn();
    assert.equal(await cache.read('sessions', 'k', load), 3, 'the next turn checks again and sees the change');
    assert.equal(await cache.read('api_tokens', 'k', load), 4, 'every table was dropped');
    assert.equal(checks, 2);
    await nextTurn();
    assert.equal(await cache.read('sessions', 'k', load), 3, 'unchanged version: cached');
    assert.equal(checks, 3);
  });
});

describe('SQLite: hot reads are cached between writes, never past one', () => {
  let store: KyselyStore;
  let gw: string;
  before(async () => {
    store = await openStore(`sqlite:${join(dir, 'cache.db')}`);
    gw = await freshGateway(store);
    await store.sessions.insertIfAbsent(makeSession(gw, { connectedAt: T0 }));
  });
  after(() => store.close());

  const ids = async (): Promise<string[]> =>
    (await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } })).rows.map((s) => s.id);

  test('a repeated read is served from the cache (the same answer object), concurrent ones share one query', async () => {
    const a = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    const b = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    assert.equal(a, b);
    const [c, d] = await Promise.all([
      store.sessions.countOnline({ gatewayId: gw }),
      store.sessions.countOnline({ gatewayId: gw }),
    ]);
    assert.equal(c, 1);
    assert.equal(d, 1);
    // Different arguments are different entries.
    assert.notEqual(await store.sessions.listOnline({ first: 9, filter: { gatewayId: gw } }), a);
  });

  test('an insert outside a transaction is seen by the next read', async () => {
    await ids();
    const s = makeSession(gw, { connectedAt: T0 + 10 });
    await store.sessions.insertIfAbsent(s);
    assert.equal((await ids())[0], s.id);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 2);
  });

  test('a session ended in a transaction leaves the list at commit; a rolled-back end does not', async () => {
    const [newest] = await ids();
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.sessions.markEnded(newest!, { endedAt: T0 + 20, cause: 'CLIENT_DISCONNECT' });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.ok((await ids()).includes(newest!));
    await store.transaction((tx) => tx.sessions.markEnded(newest!, { endedAt: T0 + 20, cause: 'CLIENT_DISCONNECT' }));
    assert.ok(!(await ids()).includes(newest!));
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 1);
  });

  test('a session ended outside a transaction (a precompiled statement) leaves the list at once', async () => {
    const s = makeSession(gw, { connectedAt: T0 + 30 });
    await store.sessions.insertIfAbsent(s);
    assert.ok((await ids()).includes(s.id));
    const counted = await store.sessions.countOnline({ gatewayId: gw });
    assert.ok(await store.sessions.markEnded(s.id, { endedAt: T0 + 40, cause: 'CLIENT_DISCONNECT' }));
    assert.ok(!(await ids()).includes(s.id));
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), counted - 1);
  });

  test('a read that started before a write is not served after it', async () => {
    const stale = store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    const s = makeSession(gw, { connectedAt: T0 + 30 });
    await store.sessions.insertIfAbsent(s);
    await stale;
    assert.equal((await ids())[0], s.id);
  });

  test('raw SQL (which cannot be inspected) invalidates too', async () => {
    const before = await ids();
    await sql`update sessions set ended_at = ${T0 + 40}, end_cause = 'CLIENT_DISCONNECT' where id = ${before[0]!}`.execute(
      store.db,
    );
    assert.deepEqual(await ids(), before.slice(1));
  });

  test('stats updates are seen (the cached rows are not older than the last write)', async () => {
    const [first] = (await store.sessions.listOnline({ first: 1, filter: { gatewayId: gw } })).rows;
    await store.sessions.updateStats(first!.id, { bytesReceived: 4242, bytesSent: 17, lastSeenAt: T0 + 50 });
    const [again] = (await store.sessions.listOnline({ first: 1, filter: { gatewayId: gw } })).rows;
    assert.equal(again!.bytesReceived, 4242);
  });

  test('writes to other tables keep the cache', async () => {
    const a = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    await store.gateways.setAgentStatus(gw, { agentConnected: true, lastSeenAt: T0 + 60 });
    assert.equal(await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } }), a);
  });

  test('a commit by another connection to the same file (another process) is seen from the next event-loop turn', async () => {
    const before = await ids();
    const other = new Database(join(dir, 'cache.db'));
    try {
      other
        .prepare("update sessions set ended_at = ?, end_cause = 'CLIENT_DISCONNECT' where id = ?")
        .run(T0 + 70, before[0]!);
    } finally {
      other.close();
    }
    await nextTurn();
    assert.deepEqual(await ids(), before.slice(1));
  });

  test('gateways by id: cached, and a status write is seen by the next read', async () => {
    const a = await store.gateways.findById(gw);
    assert.equal(await store.gateways.findById(gw), a);
    await store.gateways.setAgentStatus(gw, { agentConnected: false, lastSeenAt: T0 + 80 });
    const b = await store.gateways.findById(gw);
    assert.notEqual(b, a);
    assert.equal(b!.lastSeenAt, T0 + 80);
    assert.equal(b!.agentConnected, false);
  });

  test('tokens by prefix: cached; a revocation here is seen by the next read, one by another process (the CLI) from the next turn', async () => {
    const token = {
      id: 'tok_cachetest1',
      name: 'cache',
      prefix: 'sbt_cach',
      secretHash: 'ab'.repeat(32),
      scopes: ['admin' as const],
      createdAt: T0,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    };
    const second = { ...token, id: 'tok_cachetest2' };
    await store.tokens.insert(token);
    await store.tokens.insert(second);
    const a = await store.tokens.findByPrefix('sbt_cach');
    assert.equal(await store.tokens.findByPrefix('sbt_cach'), a);
    assert.ok(await store.tokens.revoke(token.id, T0 + 90));
    assert.equal((await store.tokens.findByPrefix('sbt_cach')).find((t) => t.id === token.id)!.revokedAt, T0 + 90);
    const other = new Database(join(dir, 'cache.db'));
    try {
      other.prepare('update api_tokens set revoked_at = ? where id = ?').run(T0 + 91, second.id);
    } finally {
      other.close();
    }
    await nextTurn();
    assert.equal((await store.tokens.findByPrefix('sbt_cach')).find((t) => t.id === second.id)!.revokedAt, T0 + 91);
  });

  test('active webhooks: cached, also inside a transaction; a transaction that adds one sees it, a rollback leaves no trace', async () => {
    const a = await store.webhooks.listActive();
    assert.equal(await store.webhooks.listActive(), a);
    // Read inside a transaction (what every session change does for its outbox rows): the cached list.
    assert.equal(await store.transaction((tx) => tx.webhooks.listActive()), a);
    const added = makeWebhook();
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.webhooks.insert(added);
        // Its own uncommitted write is seen inside it...
        assert.ok((await tx.webhooks.listActive()).some((w) => w.id === added.id));
        throw new Error('roll back');
      }),
      /roll back/,
    );
    // ...and not after the rollback, in or out of a transaction.
    assert.ok(!(await store.webhooks.listActive()).some((w) => w.id === added.id));
    assert.ok(!(await store.transaction((tx) => tx.webhooks.listActive())).some((w) => w.id === added.id));
    await store.transaction((tx) => tx.webhooks.insert(added));
    assert.ok((await store.webhooks.listActive()).some((w) => w.id === added.id));
    assert.ok(await store.webhooks.markDeleted(added.id, T0 + 100));
    assert.ok(!(await store.transaction((tx) => tx.webhooks.listActive())).some((w) => w.id === added.id));
  });

  test('cacheReads: false reads the database every time', async () => {
    const uncached = await openStore(`sqlite:${join(dir, 'cache.db')}`, { cacheReads: false });
    try {
      const a = await uncached.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
      assert.notEqual(await uncached.sessions.listOnline({ first: 10, filter: { gatewayId: gw } }), a);
    } finally {
      await uncached.close();
    }
  });
});

const pgSkip = await postgresSkipReason();
test('PostgreSQL: nothing is cached (other replicas write the same rows)', { skip: pgSkip }, async () => {
  const fresh = await createFreshPostgresDatabase();
  const store = await openStore(fresh.url);
  try {
    const gw = await freshGateway(store);
    await store.sessions.insertIfAbsent(makeSession(gw));
    const a = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    assert.notEqual(await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } }), a);
  } finally {
    await store.close();
    await fresh.drop();
  }
});
