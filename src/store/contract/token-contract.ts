import assert from 'node:assert/strict';
import { test } from 'node:test';
import { T0, makeToken, type ContractContext } from './fixtures.js';

/** API tokens: stored by hash, found by display prefix, revoked once, touched forward only. */
export function tokenContract(ctx: ContractContext): void {
  test('insert, findById, list and count', async () => {
    const store = ctx.store();
    const before = await store.tokens.count();
    const older = makeToken({ createdAt: T0, scopes: ['admin'], expiresAt: T0 + 86_400_000 });
    const newer = makeToken({ createdAt: T0 + 1, scopes: ['sessions:read', 'audit:read'] });
    await store.tokens.insert(older);
    await store.tokens.insert(newer);
    assert.deepEqual(await store.tokens.findById(older.id), older);
    assert.deepEqual(await store.tokens.findById(newer.id), newer);
    assert.equal(await store.tokens.findById('tok_doesnotexist'), null);
    assert.equal(await store.tokens.count(), before + 2);
    const listed = (await store.tokens.list()).map((t) => t.id);
    assert.ok(listed.indexOf(newer.id) < listed.indexOf(older.id), 'newest first');
    const locked = await store.transaction((tx) => tx.tokens.listLocked());
    assert.deepEqual(
      locked.map((t) => t.id),
      [...listed].sort(),
      'listLocked: the same tokens, by id',
    );
    // lockTokenSet holds the token set's lock for the transaction; taken twice in a row, it is released in between.
    for (let i = 0; i < 2; i++) assert.equal(await store.transaction((tx) => tx.tokens.lockTokenSet()), undefined);
  });

  test('findByPrefix returns every token with that prefix and no other', async () => {
    const store = ctx.store();
    const a = makeToken();
    const twin = makeToken({ prefix: a.prefix });
    const other = makeToken();
    for (const t of [a, twin, other]) await store.tokens.insert(t);
    const found = await store.tokens.findByPrefix(a.prefix);
    assert.deepEqual(new Set(found.map((t) => t.id)), new Set([a.id, twin.id]));
    assert.deepEqual(
      found.find((t) => t.id === a.id),
      a,
    );
    assert.deepEqual(await store.tokens.findByPrefix('sbt_nothere0'), []);
  });

  test('findByIds returns the existing tokens among the ids, revoked ones included', async () => {
    const store = ctx.store();
    const a = makeToken();
    const b = makeToken();
    const other = makeToken();
    for (const t of [a, b, other]) await store.tokens.insert(t);
    await store.tokens.revoke(b.id, T0 + 5);
    const found = await store.tokens.findByIds([a.id, b.id, 'tok_doesnotexist']);
    assert.deepEqual(new Set(found.map((t) => t.id)), new Set([a.id, b.id]));
    assert.deepEqual(
      found.find((t) => t.id === a.id),
      a,
    );
    assert.equal(found.find((t) => t.id === b.id)?.revokedAt, T0 + 5);
    assert.deepEqual(await store.tokens.findByIds([]), []);
  });

  test('revoke: true once, false when already revoked or unknown', async () => {
    const store = ctx.store();
    const t = makeToken();
    await store.tokens.insert(t);
    assert.equal(await store.tokens.revoke(t.id, T0 + 10), true);
    assert.equal(await store.tokens.revoke(t.id, T0 + 20), false);
    assert.equal(await store.tokens.revoke('tok_doesnotexist', T0), false);
    assert.equal((await store.tokens.findById(t.id))?.revokedAt, T0 + 10);
  });

  test('touch sets lastUsedAt and never moves it backwards', async () => {
    const store = ctx.store();
    const t = makeToken();
    await store.tokens.insert(t);
    await store.tokens.touch(t.id, T0 + 100);
    assert.equal((await store.tokens.findById(t.id))?.lastUsedAt, T0 + 100);
    await store.tokens.touch(t.id, T0 + 50);
    assert.equal((await store.tokens.findById(t.id))?.lastUsedAt, T0 + 100);
    await store.tokens.touch(t.id, T0 + 200);
    assert.equal((await store.tokens.findById(t.id))?.lastUsedAt, T0 + 200);
    await store.tokens.touch('tok_doesnotexist', T0);
  });
}
