/**
 * Two admin tokens revoking each other at the same moment: one revocation goes through, the other is
 * refused LAST_ADMIN_TOKEN, so an admin token is left. On PostgreSQL both transactions used to read
 * the token list before either wrote, each saw the other token valid, and both went: no admin token
 * was left, without `force`. The test makes that overlap certain: a third connection holds both rows
 * until both revocations wait on it. SQLite runs one transaction at a time; its pair runs as well.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { bothStores, waitForLockWaiters } from '../../test/support/postgres.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { isDomainError } from '../domain/errors.js';
import { silentLogger } from '../domain/logger.js';
import type { ApiToken } from '../domain/token.js';
import { openStore } from '../store/kysely/kysely-store.js';
import { Switchboard } from './switchboard.js';

const STORES = await bothStores();

const admin = (id: string): ApiToken => ({
  id,
  name: id,
  prefix: `sbt_${id.slice(4, 12)}`,
  secretHash: `hash-${id}`,
  scopes: ['admin'],
  createdAt: 1,
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
});
const actor = (tokenId: string) => ({ tokenId, name: tokenId, scopes: ['admin' as const], ip: null, userAgent: null });

for (const s of STORES) {
  describe(`two admins revoke each other at once (${s.name})`, { skip: s.skip }, () => {
    test('one revocation goes through, the other is LAST_ADMIN_TOKEN: an admin token is left', async () => {
      const db = await s.open();
      const store = await openStore(db.url);
      const bus = new MemoryBus();
      const core = new Switchboard({
        store,
        bus,
        logger: silentLogger,
        disconnectDeadlineMs: 1000,
        gatewayLivenessMs: 15_000,
      });
      const holder = s.name === 'PostgreSQL' ? new pg.Client({ connectionString: db.url }) : null;
      try {
        await store.tokens.insert(admin('tok_aaaaaaaaaaaa'));
        await store.tokens.insert(admin('tok_bbbbbbbbbbbb'));
        if (holder) {
          await holder.connect();
          await holder.query('begin');
          await holder.query(`select id from api_tokens order by id for update`);
        }
        const outcomes = Promise.allSettled([
          core.revokeToken(actor('tok_aaaaaaaaaaaa'), 'tok_bbbbbbbbbbbb'),
          core.revokeToken(actor('tok_bbbbbbbbbbbb'), 'tok_aaaaaaaaaaaa'),
        ]);
        if (holder) {
          // Both revocations are inside their transactions and waiting on the held rows.
          await waitForLockWaiters(holder, 2, 'both revocations waiting');
          await holder.query('commit');
        }
        const [first, second] = await outcomes;
        const codes = [first!, second!].map((r) =>
          r.status === 'fulfilled' ? 'REVOKED' : isDomainError(r.reason) ? r.reason.code : String(r.reason),
        );
        assert.deepEqual([...codes].sort(), ['LAST_ADMIN_TOKEN', 'REVOKED']);
        const left = (await store.tokens.list()).filter((t) => t.revokedAt === null);
        assert.equal(left.length, 1, 'one admin token is left');
      } finally {
        await holder?.end();
        await bus.close();
        await store.close();
        await db.drop();
      }
    });
  });
}
