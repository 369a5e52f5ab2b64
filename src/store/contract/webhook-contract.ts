import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../domain/ids.js';
import type { WebhookDelivery } from '../../domain/webhook.js';
import { makeWebhook, T0, type ContractContext } from './fixtures.js';

function makeDelivery(webhookId: string, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return {
    id: newId('webhookDelivery'),
    webhookId,
    eventId: newId('event'),
    eventType: 'session.connected',
    payload: '{"x":1}',
    status: 'PENDING',
    attempts: 0,
    createdAt: T0,
    nextAttemptAt: T0,
    deliveredAt: null,
    lastStatusCode: null,
    lastError: null,
    ...overrides,
  };
}

/** Webhooks and their outbox: written with the change, claimed by one dispatcher at a time, attempts kept. */
export function webhookContract(ctx: ContractContext): void {
  test('webhooks: insert, list active, delete once', async () => {
    const store = ctx.store();
    const w = makeWebhook();
    await store.webhooks.insert(w);
    assert.deepEqual(await store.webhooks.findById(w.id), w);
    assert.ok((await store.webhooks.listActive()).some((x) => x.id === w.id));
    assert.equal(await store.webhooks.markDeleted(w.id, T0 + 5), true);
    assert.equal(await store.webhooks.markDeleted(w.id, T0 + 6), false);
    assert.ok(!(await store.webhooks.listActive()).some((x) => x.id === w.id));
    assert.equal((await store.webhooks.findById(w.id))?.deletedAt, T0 + 5);
  });

  test("backlog: PENDING deliveries per webhook, with the oldest one's time; delivered and failed ones do not count", async () => {
    const store = ctx.store();
    const [a, b] = [makeWebhook(), makeWebhook()];
    for (const w of [a, b]) await store.webhooks.insert(w);
    await store.webhooks.enqueue([
      makeDelivery(a.id, { createdAt: T0 + 30 }),
      makeDelivery(a.id, { createdAt: T0 + 10 }),
      makeDelivery(a.id, { status: 'DELIVERED', createdAt: T0 }),
      makeDelivery(b.id, { status: 'FAILED', createdAt: T0 }),
    ]);
    const mine = (await store.webhooks.backlog()).filter((x) => x.webhookId === a.id || x.webhookId === b.id);
    assert.deepEqual(mine, [{ webhookId: a.id, pending: 2, oldestCreatedAt: T0 + 10 }]);
  });

  test('enqueue: more rows than one statement may carry (a bulk disconnect times its webhooks) are all written', async () => {
    const store = ctx.store();
    const w = makeWebhook();
    await store.webhooks.insert(w);
    // 2,500 rows of 13 columns; delivered already, so no other test finds them due.
    const rows = Array.from({ length: 2500 }, (_, i) =>
      makeDelivery(w.id, { status: 'DELIVERED', createdAt: T0 + i, deliveredAt: T0 + i }),
    );
    await store.webhooks.enqueue(rows);
    await store.webhooks.enqueue([]);
    const listed = await store.webhooks.listDeliveries(w.id, 3000);
    assert.equal(listed.length, 2500);
    assert.deepEqual(
      listed.find((d) => d.id === rows[2499]!.id),
      rows[2499],
    );
  });

  test('outbox rows written in a transaction that rolls back do not exist', async () => {
    const store = ctx.store();
    const w = makeWebhook();
    await store.webhooks.insert(w);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.webhooks.enqueue([makeDelivery(w.id)]);
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    assert.deepEqual(await store.webhooks.listDeliveries(w.id, 10), []);
  });

  test('claimDue: due rows only, each to exactly one of two concurrent claimers, lease respected; attempts recorded', async () => {
    const store = ctx.store();
    const w = makeWebhook();
    await store.webhooks.insert(w);
    // A far-future time window of its own, so rows of other tests are never due here.
    const now = 4_000_000_000_000 + Math.floor(Math.random() * 1e9);
    const due = Array.from({ length: 6 }, (_, i) =>
      makeDelivery(w.id, { nextAttemptAt: now - 10 + i, createdAt: now - 100 }),
    );
    const later = makeDelivery(w.id, { nextAttemptAt: now + 60_000, createdAt: now - 100 });
    await store.webhooks.enqueue([...due, later]);
    const [a, b] = await Promise.all([
      store.webhooks.claimDue(now, now + 30_000, 4),
      store.webhooks.claimDue(now, now + 30_000, 4),
    ]);
    const claimed = [...a, ...b].map((d) => d.id).filter((id) => due.some((x) => x.id === id));
    assert.equal(new Set(claimed).size, claimed.length, 'no row claimed twice');
    assert.equal(claimed.length, 6, 'every due row claimed');
    assert.ok(![...a, ...b].some((d) => d.id === later.id), 'not yet due');
    assert.equal(
      (await store.webhooks.claimDue(now + 1, now + 30_000, 10)).filter((d) => d.webhookId === w.id).length,
      0,
      'leased rows are skipped',
    );

    const first = due[0]!;
    await store.webhooks.recordAttempt(
      {
        id: newId('webhookAttempt'),
        deliveryId: first.id,
        attempt: 1,
        at: now,
        statusCode: 500,
        error: 'HTTP 500',
        durationMs: 12.5,
      },
      {
        status: 'PENDING',
        attempts: 1,
        nextAttemptAt: now + 1000,
        deliveredAt: null,
        lastStatusCode: 500,
        lastError: 'HTTP 500',
      },
    );
    const again = await store.webhooks.claimDue(now + 1000, now + 40_000, 10);
    assert.deepEqual(
      again.filter((d) => d.webhookId === w.id).map((d) => [d.id, d.attempts, d.lastStatusCode]),
      [[first.id, 1, 500]],
      'released by the attempt, due again at its next time',
    );
    await store.webhooks.recordAttempt(
      {
        id: newId('webhookAttempt'),
        deliveryId: first.id,
        attempt: 2,
        at: now + 1000,
        statusCode: 204,
        error: null,
        durationMs: 3,
      },
      {
        status: 'DELIVERED',
        attempts: 2,
        nextAttemptAt: now + 1000,
        deliveredAt: now + 1000,
        lastStatusCode: 204,
        lastError: null,
      },
    );
    const attempts = await store.webhooks.listAttempts([first.id]);
    assert.deepEqual(
      attempts.map((x) => [x.attempt, x.statusCode, x.error, x.durationMs]),
      [
        [1, 500, 'HTTP 500', 12.5],
        [2, 204, null, 3],
      ],
    );
    const listed = (await store.webhooks.listDeliveries(w.id, 50)).find((d) => d.id === first.id);
    assert.deepEqual(
      { status: listed?.status, attempts: listed?.attempts, deliveredAt: listed?.deliveredAt },
      { status: 'DELIVERED', attempts: 2, deliveredAt: now + 1000 },
    );
  });

  test('lanes: dueWebhookIds names webhooks with due unleased rows; claimDue of one webhook takes only its rows', async () => {
    const store = ctx.store();
    const slow = makeWebhook();
    const fast = makeWebhook();
    const idle = makeWebhook();
    for (const w of [slow, fast, idle]) await store.webhooks.insert(w);
    const now = 5_000_000_000_000 + Math.floor(Math.random() * 1e9);
    const backlog = Array.from({ length: 5 }, (_, i) =>
      makeDelivery(slow.id, { nextAttemptAt: now - 50 + i, createdAt: now - 100 }),
    );
    const one = makeDelivery(fast.id, { nextAttemptAt: now - 1, createdAt: now - 100 });
    await store.webhooks.enqueue([
      ...backlog,
      one,
      makeDelivery(idle.id, { nextAttemptAt: now + 60_000, createdAt: now - 100 }),
    ]);
    const mine = (ids: string[]) => ids.filter((id) => [slow.id, fast.id, idle.id].includes(id)).sort();
    assert.deepEqual(
      mine(await store.webhooks.dueWebhookIds(now, 1000)),
      [slow.id, fast.id].sort(),
      'idle has nothing due',
    );

    const slowClaim = await store.webhooks.claimDue(now, now + 30_000, 2, slow.id);
    assert.deepEqual(
      slowClaim.map((d) => d.id).sort(),
      backlog
        .slice(0, 2)
        .map((d) => d.id)
        .sort(),
      'its oldest due rows, up to the limit',
    );
    const fastClaim = await store.webhooks.claimDue(now, now + 30_000, 10, fast.id);
    assert.deepEqual(
      fastClaim.map((d) => d.id),
      [one.id],
      'only its own row, though the other webhook has older ones',
    );
    assert.deepEqual(
      mine(await store.webhooks.dueWebhookIds(now, 1000)),
      [slow.id],
      'fast has no unleased due row left',
    );
    await store.webhooks.claimDue(now, now + 30_000, 10, slow.id);
    assert.deepEqual(mine(await store.webhooks.dueWebhookIds(now, 1000)), [], 'every due row is leased');
  });
}
