/**
 * Replicas starting together on a fresh database create one bootstrap admin token between them. Each
 * checked "no token yet" and inserted one: two `switchboard start` processes started together on a
 * fresh PostgreSQL database minted two in 3 of 5 trials, each printing its own. The test makes the
 * overlap certain: a third connection holds the token table until both first-start checks wait on it.
 * SQLite runs one transaction at a time; its pair runs as well.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { bothStores, waitForLockWaiters } from '../../test/support/postgres.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { silentLogger } from '../domain/logger.js';
import { openStore } from '../store/kysely/kysely-store.js';
import { Switchboard } from './switchboard.js';

const STORES = await bothStores();

const SYSTEM = { tokenId: 'system', name: 'system', scopes: ['admin' as const], ip: null, userAgent: null };

for (const s of STORES) {
  describe(`two replicas create the first token at once (${s.name})`, { skip: s.skip }, () => {
    test('one bootstrap admin token is created, the other replica creates none', async () => {
      const db = await s.open();
      const store = await openStore(db.url);
      const bus = new MemoryBus();
      const replica = () =>
        new Switchboard({ store, bus, logger: silentLogger, disconnectDeadlineMs: 1000, gatewayLivenessMs: 15_000 });
      const holder = s.name === 'PostgreSQL' ? new pg.Client({ connectionString: db.url }) : null;
      try {
        if (holder) {
          await holder.connect();
          await holder.query('begin');
          await holder.query('lock table api_tokens in access exclusive mode');
        }
        const outcomes = Promise.all([replica().createBootstrapToken(SYSTEM), replica().createBootstrapToken(SYSTEM)]);
        if (holder) {
          // Both are inside their transactions and waiting (on the table, or one on the other's lock).
          await waitForLockWaiters(holder, 2, 'both first-start checks waiting');
          await holder.query('commit');
        }
        const minted = (await outcomes).filter((m) => m !== null);
        assert.equal(minted.length, 1, 'one replica mints the token');
        const tokens = await store.tokens.list();
        assert.deepEqual(
          tokens.map((t) => [t.name, t.scopes]),
          [['bootstrap-admin', ['admin']]],
        );
        assert.equal(tokens[0]!.id, minted[0]!.token.id);
        assert.equal(await store.audit.count({ action: 'token.create' }), 1);
        // A later start finds the token and creates none.
        assert.equal(await replica().createBootstrapToken(SYSTEM), null);
      } finally {
        await holder?.end();
        await bus.close();
        await store.close();
        await db.drop();
      }
    });
  });
}
