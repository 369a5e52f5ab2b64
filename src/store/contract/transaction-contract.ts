import assert from 'node:assert/strict';
import { test } from 'node:test';
import { T0, freshGateway, makeAudit, makeSession, makeToken, type ContractContext } from './fixtures.js';

/** A promise with its resolve function, to hold a transaction open at a chosen point. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** transaction(): all or nothing, and isolated from work that runs beside it. */
export function transactionContract(ctx: ContractContext): void {
  test('transaction commits every repository write together and returns fn’s value', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const session = makeSession(gw);
    await store.sessions.insertIfAbsent(session);
    const event = makeAudit({ targetSessionId: session.id });
    const result = await store.transaction(async (tx) => {
      const ended = await tx.sessions.markEnded(session.id, {
        endedAt: T0 + 5,
        cause: 'ADMIN_DISCONNECT',
        endedByName: 'ops',
      });
      await tx.audit.append(event);
      // Reads inside the transaction see its own writes.
      assert.equal(await tx.sessions.findOnline(session.id), null);
      return ended;
    });
    assert.equal(result?.endedByName, 'ops');
    assert.equal((await store.sessions.findById(session.id))?.endedByName, 'ops');
    assert.deepEqual((await store.audit.list({ first: 1, filter: { targetSessionId: session.id } })).rows, [event]);
  });

  test('a throw rolls back everything the transaction wrote and reaches the caller', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const existing = makeSession(gw);
    await store.sessions.insertIfAbsent(existing);
    const inserted = makeSession(gw);
    const token = makeToken();
    const event = makeAudit({ targetSessionId: existing.id });
    const boom = new Error('boom');
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.sessions.insertIfAbsent(inserted);
        assert.ok(await tx.sessions.markEnded(existing.id, { endedAt: T0 + 1, cause: 'ADMIN_DISCONNECT' }));
        await tx.tokens.insert(token);
        await tx.audit.append(event);
        await tx.gateways.setAgentStatus(gw, { agentConnected: true, lastSeenAt: T0 + 9 });
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(await store.sessions.findById(inserted.id), null);
    assert.equal((await store.sessions.findOnline(existing.id))?.id, existing.id);
    assert.equal(await store.tokens.findById(token.id), null);
    assert.deepEqual((await store.audit.list({ first: 1, filter: { targetSessionId: existing.id } })).rows, []);
    assert.equal((await store.gateways.findById(gw))?.agentConnected, false);
  });

  test('work beside an open transaction neither joins it nor sees its uncommitted writes', async () => {
    const store = ctx.store();
    const doomed = makeToken();
    const outside = makeToken();
    const committed = makeToken();
    const wrote = gate();
    const release = gate();

    // Transaction A writes, then waits while other work is started, then fails.
    const a = store.transaction(async (tx) => {
      await tx.tokens.insert(doomed);
      wrote.open();
      await release.promise;
      throw new Error('A fails');
    });
    await wrote.promise;
    // Started while A is open. On SQLite these queue behind A for the one connection; if they ran
    // inside A instead, A's rollback would take `outside` with it and the read would see `doomed`.
    const plainWrite = store.tokens.insert(outside);
    const plainRead = store.tokens.findById(doomed.id);
    const b = store.transaction(async (tx) => {
      await tx.tokens.insert(committed);
      return 'B done';
    });
    await new Promise((resolve) => setImmediate(resolve));
    release.open();

    await assert.rejects(a, /A fails/);
    await plainWrite;
    assert.equal(await plainRead, null, 'an uncommitted write is never visible outside its transaction');
    assert.equal(await b, 'B done');
    assert.equal(await store.tokens.findById(doomed.id), null);
    assert.equal((await store.tokens.findById(outside.id))?.id, outside.id);
    assert.equal((await store.tokens.findById(committed.id))?.id, committed.id);
  });

  test('concurrent transactions each commit or roll back on their own', async () => {
    const store = ctx.store();
    const tokens = Array.from({ length: 10 }, () => makeToken());
    const results = await Promise.allSettled(
      tokens.map((t, i) =>
        store.transaction(async (tx) => {
          await tx.tokens.insert(t);
          await new Promise((resolve) => setImmediate(resolve));
          await tx.tokens.touch(t.id, T0 + i);
          if (i % 2 === 1) throw new Error(`tx ${i} fails`);
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      tokens.map((_, i) => (i % 2 === 1 ? 'rejected' : 'fulfilled')),
    );
    for (const [i, t] of tokens.entries()) {
      const stored = await store.tokens.findById(t.id);
      if (i % 2 === 1) assert.equal(stored, null);
      else assert.equal(stored?.lastUsedAt, T0 + i);
    }
  });
}
