/**
 * Token checks against the real stores (SQLite and PostgreSQL): the digest a token is stored under,
 * and authority decided afresh on every request — a revoked or expired token is refused on the very
 * next one, however many requests it passed just before (nothing about a token is kept between
 * requests but what the store's own read cache drops on every write).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { openStore } from '../store/kysely/kysely-store.js';
import { isDomainError } from '../domain/errors.js';
import { authenticate, hashToken, mintToken } from './tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-tokens-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pgSkip = await postgresSkipReason();
const meta = { ip: '127.0.0.1', userAgent: 'test', requestId: 'r1' };
const T = 1_700_000_000_000;

const refused = (e: unknown) => isDomainError(e) && e.code === 'UNAUTHENTICATED';

test('a token is stored under the SHA-256 of its whole string, in hex', () => {
  const { token, secret } = mintToken({ name: 'n', scopes: ['admin'], expiresAt: null, now: T });
  const expected = createHash('sha256').update(secret).digest('hex');
  assert.equal(token.secretHash, expected);
  assert.equal(hashToken(secret), expected);
  assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

for (const kind of ['SQLite', 'PostgreSQL'] as const) {
  describe(`authenticate on ${kind}`, { skip: kind === 'PostgreSQL' ? pgSkip : false }, () => {
    const open = async () => {
      if (kind === 'SQLite')
        return { store: await openStore(`sqlite:${join(dir, `t${Math.random()}.db`)}`), drop: async () => {} };
      const db = await createFreshPostgresDatabase();
      return { store: await openStore(db.url), drop: db.drop };
    };

    test('each request decides afresh: accepted until revoked, refused on the next request after it', async () => {
      const { store, drop } = await open();
      try {
        const { token, secret } = mintToken({ name: 'ops', scopes: ['sessions:disconnect'], expiresAt: null, now: T });
        await store.tokens.insert(token);
        for (let i = 0; i < 3; i++) {
          const actor = await authenticate(store.tokens, secret, meta, T + i);
          assert.deepEqual(
            { tokenId: actor.tokenId, scopes: actor.scopes, requestId: actor.requestId },
            { tokenId: token.id, scopes: ['sessions:disconnect'], requestId: 'r1' },
          );
        }
        // Same prefix, another secret: refused.
        const other = secret.slice(0, -1) + (secret.endsWith('a') ? 'b' : 'a');
        await assert.rejects(authenticate(store.tokens, other, meta, T), refused);
        assert.equal(await store.tokens.revoke(token.id, T + 10), true);
        await assert.rejects(authenticate(store.tokens, secret, meta, T + 11), refused);
      } finally {
        await store.close();
        await drop();
      }
    });

    test('an expiring token is accepted before its end and refused from it on', async () => {
      const { store, drop } = await open();
      try {
        const { token, secret } = mintToken({ name: 'ci', scopes: ['admin'], expiresAt: T + 1000, now: T });
        await store.tokens.insert(token);
        assert.equal((await authenticate(store.tokens, secret, meta, T + 999)).tokenId, token.id);
        await assert.rejects(authenticate(store.tokens, secret, meta, T + 1000), refused);
      } finally {
        await store.close();
        await drop();
      }
    });
  });
}
