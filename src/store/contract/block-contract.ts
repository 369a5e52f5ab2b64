import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Block } from '../../domain/block.js';
import { randomId } from '../../domain/ids.js';
import { T0, freshGateway, type ContractContext } from './fixtures.js';

function makeBlock(gatewayId: string, overrides: Partial<Block> = {}): Block {
  return {
    gatewayId,
    userName: `user-${randomId(6)}`,
    until: T0 + 300_000,
    blockedAt: T0,
    blockedByTokenId: 'tok_abc',
    blockedByName: 'ops',
    reason: 'stolen laptop',
    message: 'Your laptop was reported stolen: call the help desk.',
    sessionId: 'sess_aaaaaaaaaaaa',
    ...overrides,
  };
}

/** Blocks: one per (gateway, user), never shortened by a later put (which brings its blocker, reason and message), listed while in force, lifted once. */
export function blockContract(ctx: ContractContext): void {
  test('blocks: put, listActive by gateway and user, only those in force', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const a = makeBlock(gw, { userName: 'alice' });
    const b = makeBlock(gw, { userName: 'bob', until: T0 + 10 });
    const c = makeBlock(other, { userName: 'alice' });
    for (const x of [a, b, c]) assert.deepEqual(await store.blocks.put(x), x);
    assert.deepEqual(await store.blocks.listActive(T0, { gatewayId: gw }), [a, b]);
    assert.deepEqual(
      await store.blocks.listActive(T0 + 10, { gatewayId: gw }),
      [a],
      "bob's block is over at its until",
    );
    assert.deepEqual(await store.blocks.listActive(T0, { gatewayId: gw, userName: 'alice' }), [a]);
    const everywhere = (await store.blocks.listActive(T0, { userName: 'alice' })).filter(
      (x) => x.gatewayId === gw || x.gatewayId === other,
    );
    assert.deepEqual(
      everywhere,
      [a, c].sort((x, y) => x.gatewayId.localeCompare(y.gatewayId)),
    );
  });

  test('blocks: a later put keeps the later until and takes the new blocker; an expired one is replaced', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    await store.blocks.put(makeBlock(gw, { userName: 'carol', until: T0 + 600_000 }));
    const shorter = await store.blocks.put(
      makeBlock(gw, {
        userName: 'carol',
        until: T0 + 60_000,
        blockedAt: T0 + 5,
        blockedByName: 'second',
        reason: null,
        message: 'Blocked again.',
      }),
    );
    assert.deepEqual(
      [shorter.until, shorter.blockedByName, shorter.reason, shorter.message],
      [T0 + 600_000, 'second', null, 'Blocked again.'],
    );
    const noMessage = await store.blocks.put(makeBlock(gw, { userName: 'carol', until: T0 + 60_000, message: null }));
    assert.equal(noMessage.message, null, 'the latest disconnect without a message leaves none');
    const longer = await store.blocks.put(makeBlock(gw, { userName: 'carol', until: T0 + 900_000 }));
    assert.equal(longer.until, T0 + 900_000);
    assert.equal((await store.blocks.listActive(T0, { gatewayId: gw })).length, 1, 'one row per (gateway, user)');
  });

  test('blocks: lift removes it once; an expired or unknown block lifts nothing', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const d = makeBlock(gw, { userName: 'dave' });
    await store.blocks.put(d);
    await store.blocks.put(makeBlock(gw, { userName: 'erin', until: T0 + 1 }));
    assert.deepEqual(await store.blocks.lift(gw, 'dave', T0), d);
    assert.equal(await store.blocks.lift(gw, 'dave', T0), null, 'lifted already');
    assert.equal(await store.blocks.lift(gw, 'erin', T0 + 1), null, 'expired');
    assert.equal(await store.blocks.lift(gw, 'nobody', T0), null);
    assert.deepEqual(await store.blocks.listActive(T0, { gatewayId: gw }), []);
  });

  test('blocks: written in a transaction that rolls back leave nothing', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.blocks.put(makeBlock(gw, { userName: 'frank' }));
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.deepEqual(await store.blocks.listActive(T0, { gatewayId: gw }), []);
  });
}
