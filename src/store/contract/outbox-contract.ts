import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../domain/ids.js';
import type { OutboxEvent, Store } from '../store.js';
import { makeWebhook, type ContractContext } from './fixtures.js';
import { readOutboxRow } from '../../../test/support/outbox-rows.js';

function makeEvent(createdAt: number, overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  const id = newId('event');
  return { id, type: 'session.disconnected', at: createdAt, payload: JSON.stringify({ id }), createdAt, ...overrides };
}

/** Claims every claimable row of this test (rows of other tests share the table). */
async function claimMine(store: Store, mine: Set<string>, now: number, leaseUntil: number): Promise<OutboxEvent[]> {
  const out: OutboxEvent[] = [];
  for (;;) {
    const batch = await store.outbox.claim(now, leaseUntil, 500);
    out.push(...batch.filter((e) => mine.has(e.id)));
    // Rows of other tests claimed here are released at once for them.
    const others = batch.filter((e) => !mine.has(e.id));
    if (batch.length === 0 || others.length === batch.length) return out;
  }
}

/**
 * The event outbox: written with the change, claimed by one relay at a time in the order written,
 * leases expire, published rows are not claimed again, pruning keeps what it must. Tests share one
 * database: each uses its own far-future window of times, so other tests' rows never interfere.
 */
export function outboxContract(ctx: ContractContext): void {
  test('outbox: events written in a transaction that rolls back do not exist; committed ones do, with their payload', async () => {
    const store = ctx.store();
    const t = 5_000_000_000_000 + Math.floor(Math.random() * 1e9);
    const lost = makeEvent(t);
    const kept = makeEvent(t, { type: 'token.revoked', payload: '{"tokenId":"tok_x","quote":"\\"é\\""}' });
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.outbox.append([lost]);
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    await store.transaction((tx) => tx.outbox.append([kept]));
    assert.equal(await readOutboxRow(store, lost.id), null);
    assert.deepEqual(await readOutboxRow(store, kept.id), { ...kept, publishedAt: null });
  });

  test("outbox: appendListingWebhooks appends every event and returns the active webhooks as listActive reads them, its transaction's own included", async () => {
    const store = ctx.store();
    const t = 5_500_000_000_000 + Math.floor(Math.random() * 1e9);
    const [kept, deleted, added] = [makeWebhook(), makeWebhook(), makeWebhook()];
    await store.webhooks.insert(kept);
    await store.webhooks.insert(deleted);
    await store.webhooks.markDeleted(deleted.id, t);
    // More events than one statement takes: the webhooks come with the last one.
    const events = Array.from({ length: 1_001 }, (_, i) => makeEvent(t + i));
    const { hooks, listed } = await store.transaction(async (tx) => {
      await tx.webhooks.insert(added);
      const hooks = await tx.outbox.appendListingWebhooks(events);
      return { hooks, listed: await tx.webhooks.listActive() };
    });
    assert.deepEqual(hooks, listed);
    const ids = new Set(hooks.map((w) => w.id));
    assert.ok(ids.has(kept.id) && ids.has(added.id) && !ids.has(deleted.id));
    for (const e of [events[0]!, events[1_000]!])
      assert.deepEqual(await readOutboxRow(store, e.id), { ...e, publishedAt: null });
    // Published, so that the claims of the tests below do not meet them first.
    await store.outbox.markPublished(
      events.map((e) => e.id),
      t,
    );
  });

  test('outbox: claim hands each unpublished row to one of two concurrent claimers, in written order; leases expire; published rows stay published', async () => {
    const store = ctx.store();
    const t = 6_000_000_000_000 + Math.floor(Math.random() * 1e9);
    const events = Array.from({ length: 12 }, (_, i) => makeEvent(t + i));
    for (const e of events) await store.outbox.append([e]); // one by one: `seq` follows this order
    const mine = new Set(events.map((e) => e.id));
    // Far in the future, every row of this test is claimable; rows of other tests are too, which is why
    // only ours are counted. The lease of ours lasts until t + 1000.
    const [a, b] = await Promise.all([store.outbox.claim(t, t + 1000, 7), store.outbox.claim(t, t + 1000, 7)]);
    let claimed = [...a, ...b].filter((e) => mine.has(e.id));
    claimed.push(...(await claimMine(store, mine, t, t + 1000)));
    assert.equal(new Set(claimed.map((e) => e.id)).size, claimed.length, 'no row claimed twice');
    assert.deepEqual(new Set(claimed.map((e) => e.id)), mine, 'every row claimed');
    for (const batch of [a, b]) {
      const order = batch.filter((e) => mine.has(e.id)).map((e) => events.findIndex((x) => x.id === e.id));
      assert.deepEqual(
        order,
        [...order].sort((x, y) => x - y),
        'a batch comes in the order written',
      );
    }
    assert.deepEqual(await claimMine(store, mine, t + 500, t + 2000), [], 'leased rows are skipped');

    await store.outbox.markPublished(
      events.slice(0, 4).map((e) => e.id),
      t + 600,
    );
    assert.equal((await readOutboxRow(store, events[0]!.id))?.publishedAt, t + 600);
    // The lease of the other eight expired: claimable again (a relay that died after claiming).
    claimed = await claimMine(store, mine, t + 1001, t + 3000);
    assert.deepEqual(
      claimed.map((e) => e.id),
      events.slice(4).map((e) => e.id),
      'expired leases: claimable again, oldest first; published: never again',
    );
    await store.outbox.markPublished([...events.map((e) => e.id), 'evt_unknown'], t + 1100);
    assert.equal(
      (await readOutboxRow(store, events[0]!.id))?.publishedAt,
      t + 600,
      'published once: the first time stays',
    );
    assert.deepEqual(await claimMine(store, mine, t + 9_000_000, t + 9_000_001), []);
  });

  test('outbox: with a taker set, the events a transaction appends are written leased to it and handed to it once committed, in order; a rollback hands nothing; appends while it takes nothing, or outside a transaction, are unleased', async () => {
    const store = ctx.store();
    const t = 6_500_000_000_000 + Math.floor(Math.random() * 1e9);
    const taken: { events: OutboxEvent[]; inTransaction: boolean }[] = [];
    let inTransaction = false;
    let leaseUntil: number | null = t + 1000;
    store.handOffOutbox({ leaseUntil: () => leaseUntil, take: (events) => void taken.push({ events, inTransaction }) });
    try {
      const lost = makeEvent(t);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.outbox.append([lost]);
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      assert.equal(taken.length, 0, 'rolled back: nothing handed over');
      const [a, b, c] = [makeEvent(t), makeEvent(t + 1), makeEvent(t + 2)];
      await store.transaction(async (tx) => {
        inTransaction = true;
        await tx.outbox.append([a]);
        await tx.outbox.appendListingWebhooks([b, c]);
        inTransaction = false;
      });
      assert.deepEqual(taken, [{ events: [a, b, c], inTransaction: false }], 'once, after the commit, in order');
      leaseUntil = null;
      const [d, e] = [makeEvent(t + 3), makeEvent(t + 4)];
      await store.transaction((tx) => tx.outbox.append([d]));
      store.handOffOutbox({ leaseUntil: () => t + 1000, take: (events) => void taken.push({ events, inTransaction }) });
      await store.outbox.append([e]);
      assert.equal(taken.length, 1, 'not taking, or not in a transaction: nothing handed over');
      const mine = new Set([lost, a, b, c, d, e].map((x) => x.id));
      assert.deepEqual(
        (await claimMine(store, mine, t + 999, t + 5000)).map((x) => x.id),
        [d.id, e.id],
        'unleased rows are claimable at once; the leased ones not before their lease ends',
      );
      assert.deepEqual(
        (await claimMine(store, mine, t + 1001, t + 2000)).map((x) => x.id),
        [a.id, b.id, c.id],
        'after the lease, claimable as any row (the taker died)',
      );
    } finally {
      store.handOffOutbox(null);
    }
  });

  test('outbox: prune deletes published rows past retention and unpublished rows past the give-up horizon, nothing else', async () => {
    const store = ctx.store();
    // Far in the past, so rows of other tests (later times) are never pruned here.
    const t = 1_000_000_000 + Math.floor(Math.random() * 1e6);
    const oldPublished = makeEvent(t);
    const newPublished = makeEvent(t + 100);
    const oldUnpublished = makeEvent(t + 10);
    const newUnpublished = makeEvent(t + 100);
    const veryOldUnpublished = makeEvent(t - 100);
    await store.outbox.append([oldPublished, newPublished, oldUnpublished, newUnpublished, veryOldUnpublished]);
    await store.outbox.markPublished([oldPublished.id, newPublished.id], t + 200);
    const r = await store.outbox.prune({ publishedBefore: t + 50, unpublishedBefore: t, limit: 100 });
    assert.deepEqual(r, { published: 1, unpublished: 1 });
    assert.equal(await readOutboxRow(store, oldPublished.id), null);
    assert.equal(await readOutboxRow(store, veryOldUnpublished.id), null);
    for (const kept of [newPublished, oldUnpublished, newUnpublished])
      assert.ok(await readOutboxRow(store, kept.id), 'kept');
    await store.outbox.markPublished([oldUnpublished.id, newUnpublished.id], t + 300);
    assert.deepEqual(
      await store.outbox.prune({ publishedBefore: t + 1000, unpublishedBefore: t, limit: 2 }),
      { published: 2, unpublished: 0 },
      'at most `limit` per call',
    );
    assert.deepEqual(await store.outbox.prune({ publishedBefore: t + 1000, unpublishedBefore: t, limit: 2 }), {
      published: 1,
      unpublished: 0,
    });
  });
}
