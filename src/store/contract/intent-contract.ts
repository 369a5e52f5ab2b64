import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newIntentId, type DisconnectIntent } from '../../domain/disconnect-intent.js';
import { newAuditEventId, newSessionId } from '../../domain/ids.js';
import type { Session } from '../../domain/session.js';
import type { Store } from '../store.js';
import { T0, freshGateway, makeAudit, makeIntent, makeSession, type ContractContext } from './fixtures.js';

/** An online session of a fresh gateway, and a PENDING intent for it. */
async function pendingOnline(store: Store): Promise<{ session: Session; intent: DisconnectIntent }> {
  const gw = await freshGateway(store);
  const session = makeSession(gw);
  await store.sessions.insertIfAbsent(session);
  const intent = makeIntent({ sessionId: session.id, gatewayId: gw });
  await store.intents.insertIfNoPending(intent);
  return { session, intent };
}

/** Disconnect intents: one PENDING per session, settled exactly once by a conditional update. */
export function intentContract(ctx: ContractContext): void {
  test('intents: every field round-trips; a second PENDING intent for the session is refused', async () => {
    const store = ctx.store();
    const first = makeIntent();
    assert.equal(await store.intents.insertIfNoPending(first), true);
    assert.deepEqual(await store.intents.findById(first.id), first);
    assert.deepEqual(await store.intents.findPending(first.sessionId), first);
    const second = makeIntent({ sessionId: first.sessionId, actorName: 'other' });
    assert.equal(await store.intents.insertIfNoPending(second), false);
    assert.equal(await store.intents.findById(second.id), null);
  });

  test('intents: recordIfNoPending writes the intent and its PENDING audit row, or neither when one is pending', async () => {
    const store = ctx.store();
    const auditOf = async (sessionId: string) =>
      (await store.audit.list({ first: 10, filter: { targetSessionId: sessionId } })).rows;
    const first = makeIntent();
    const firstRow = makeAudit({
      id: first.auditEventId,
      at: T0,
      outcome: 'PENDING',
      targetSessionId: first.sessionId,
    });
    assert.equal(await store.intents.recordIfNoPending(first, firstRow), true);
    assert.deepEqual(await store.intents.findById(first.id), first);
    assert.deepEqual(await auditOf(first.sessionId), [firstRow]);
    // The conflict: the session's intent is pending, so neither row of the second is written.
    const second = makeIntent({ sessionId: first.sessionId, actorName: 'other' });
    const secondRow = makeAudit({ id: second.auditEventId, at: T0 + 1, targetSessionId: first.sessionId });
    assert.equal(await store.intents.recordIfNoPending(second, secondRow), false);
    assert.equal(await store.intents.findById(second.id), null);
    assert.deepEqual(await auditOf(first.sessionId), [firstRow]);
    // In a transaction, the same; and a rollback takes both rows back.
    const third = makeIntent();
    const thirdRow = makeAudit({ id: third.auditEventId, targetSessionId: third.sessionId });
    await assert.rejects(
      store.transaction(async (tx) => {
        assert.equal(await tx.intents.recordIfNoPending(third, thirdRow), true);
        assert.equal(
          await tx.intents.recordIfNoPending(makeIntent({ sessionId: third.sessionId }), makeAudit()),
          false,
        );
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal(await store.intents.findById(third.id), null);
    assert.deepEqual(await auditOf(third.sessionId), []);
    assert.equal(await store.transaction((tx) => tx.intents.recordIfNoPending(third, thirdRow)), true);
    assert.deepEqual(await store.intents.findPending(third.sessionId), third);
    assert.deepEqual(await auditOf(third.sessionId), [thirdRow]);
  });

  test('intents: recordIfNoPending is all or nothing: an audit row that cannot be written leaves no intent', async () => {
    const store = ctx.store();
    const taken = makeAudit();
    await store.audit.append(taken);
    const intent = makeIntent();
    // Same id as an existing audit row: the audit insert fails, after the intent's insert succeeded.
    await assert.rejects(
      store.intents.recordIfNoPending(intent, makeAudit({ id: taken.id, targetSessionId: intent.sessionId })),
    );
    assert.equal(await store.intents.findById(intent.id), null, 'no intent without its PENDING row');
    assert.equal(await store.intents.findPending(intent.sessionId), null);
    // The session is free for a disconnect afterwards.
    const row = makeAudit({ id: intent.auditEventId, targetSessionId: intent.sessionId });
    assert.equal(await store.intents.recordIfNoPending(intent, row), true);
  });

  test('intents: concurrent recordIfNoPending for one session: exactly one intent and one PENDING row', async () => {
    const store = ctx.store();
    const sessionId = newSessionId();
    const attempts = Array.from({ length: 8 }, () => {
      const intent = makeIntent({ sessionId });
      return { intent, row: makeAudit({ id: intent.auditEventId, targetSessionId: sessionId }) };
    });
    const recorded = await Promise.all(attempts.map((a) => store.intents.recordIfNoPending(a.intent, a.row)));
    assert.equal(recorded.filter(Boolean).length, 1);
    const winner = attempts[recorded.indexOf(true)]!;
    assert.deepEqual(await store.intents.findPending(sessionId), winner.intent);
    assert.deepEqual(
      (await store.audit.list({ first: 10, filter: { targetSessionId: sessionId } })).rows.map((r) => r.id),
      [winner.row.id],
    );
  });

  test('intents: settleDone settles, ends the session as the actor and appends the SUCCESS row; a second call writes nothing', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const session = makeSession(gw);
    await store.sessions.insertIfAbsent(session);
    const intent = makeIntent({ sessionId: session.id, gatewayId: gw });
    await store.intents.insertIfNoPending(intent);
    const end = {
      endedAt: T0 + 50,
      cause: 'ADMIN_DISCONNECT' as const,
      endedByTokenId: 'tok_abcdefghijkl',
      endedByName: 'ops',
      endReason: 'incident 7',
    };
    const row = makeAudit({ at: T0 + 60, targetSessionId: session.id });
    const done = await store.intents.settleDone(intent.id, T0 + 60, session.id, end, row);
    const now = await store.sessions.findById(session.id);
    assert.ok(done?.ended && now);
    assert.deepEqual(done.ended, now);
    assert.equal(now.endedAt, T0 + 50);
    assert.equal(now.endCause, 'ADMIN_DISCONNECT');
    assert.equal(now.endedByName, 'ops');
    assert.equal(now.endReason, 'incident 7');
    assert.deepEqual(await store.intents.findById(intent.id), {
      ...intent,
      status: 'DONE',
      settledAt: T0 + 60,
      settledAuditEventId: row.id,
    });
    const audit = async () => (await store.audit.list({ first: 10, filter: { targetSessionId: session.id } })).rows;
    assert.deepEqual(await audit(), [row]);
    // Settled already (by this call, or elsewhere): nothing written.
    const again = makeAudit({ targetSessionId: session.id });
    assert.equal(
      await store.intents.settleDone(intent.id, T0 + 70, session.id, { ...end, endedAt: T0 + 70 }, again),
      null,
    );
    assert.deepEqual(await audit(), [row]);
    assert.equal((await store.intents.findById(intent.id))?.settledAuditEventId, row.id);
  });

  test('intents: settleDone of an intent settled elsewhere leaves the session online; of a session ended otherwise it settles without ending it', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const [a, b, echo] = [makeSession(gw), makeSession(gw), makeSession(gw)];
    for (const s of [a, b, echo]) await store.sessions.insertIfAbsent(s);
    const end = { endedAt: T0 + 5, cause: 'ADMIN_DISCONNECT' as const, endedByTokenId: null, endedByName: 'ops' };
    // Settled elsewhere (another replica's sync, a NOT_FOUND reply): nothing written, in a transaction too.
    const elsewhere = makeIntent({ sessionId: a.id });
    await store.intents.insertIfNoPending(elsewhere);
    await store.intents.settle(elsewhere.id, {
      status: 'NOT_FOUND',
      settledAt: T0,
      settledAuditEventId: newAuditEventId(),
    });
    const rowA = makeAudit({ targetSessionId: a.id });
    assert.equal(await store.transaction((tx) => tx.intents.settleDone(elsewhere.id, T0 + 5, a.id, end, rowA)), null);
    assert.equal((await store.sessions.findOnline(a.id))?.id, a.id, 'still online');
    assert.equal((await store.intents.findById(elsewhere.id))?.status, 'NOT_FOUND');
    assert.deepEqual((await store.audit.list({ first: 5, filter: { targetSessionId: a.id } })).rows, []);
    // The session ended by the client first: the intent settles and its row is written, the end is the client's.
    const late = makeIntent({ sessionId: b.id });
    await store.intents.insertIfNoPending(late);
    await store.sessions.markEnded(b.id, { endedAt: T0 + 2, cause: 'CLIENT_DISCONNECT' });
    const rowB = makeAudit({ targetSessionId: b.id });
    assert.deepEqual(await store.intents.settleDone(late.id, T0 + 5, b.id, end, rowB), { ended: null });
    assert.equal((await store.sessions.findById(b.id))?.endCause, 'CLIENT_DISCONNECT');
    assert.equal((await store.intents.findById(late.id))?.status, 'DONE');
    assert.deepEqual((await store.audit.list({ first: 5, filter: { targetSessionId: b.id } })).rows, [rowB]);
    // The daemon's echo applied first (ADMIN_DISCONNECT, no actor): claimed, its time kept, the final counters written.
    const claimed = makeIntent({ sessionId: echo.id });
    await store.intents.insertIfNoPending(claimed);
    await store.sessions.markEnded(echo.id, { endedAt: T0 + 3, cause: 'ADMIN_DISCONNECT' });
    const finalStats = { bytesReceived: 777, bytesSent: 888, lastSeenAt: T0 + 3 };
    const done = await store.intents.settleDone(
      claimed.id,
      T0 + 5,
      echo.id,
      { ...end, endedByTokenId: 'tok_abcdefghijkl', finalStats },
      makeAudit({ targetSessionId: echo.id }),
    );
    assert.ok(done?.ended);
    assert.deepEqual(
      [
        done.ended.endedAt,
        done.ended.endedByName,
        done.ended.endedByTokenId,
        done.ended.bytesReceived,
        done.ended.bytesSent,
      ],
      [T0 + 3, 'ops', 'tok_abcdefghijkl', 777, 888],
    );
    assert.deepEqual(await store.sessions.findById(echo.id), done.ended);
  });

  test('intents: settleDone is all or nothing: a SUCCESS row that cannot be written leaves the intent PENDING and the session online', async () => {
    const store = ctx.store();
    const { session, intent } = await pendingOnline(store);
    const taken = makeAudit();
    await store.audit.append(taken);
    const end = { endedAt: T0 + 5, cause: 'ADMIN_DISCONNECT' as const, endedByName: 'ops' };
    await assert.rejects(store.intents.settleDone(intent.id, T0 + 5, session.id, end, makeAudit({ id: taken.id })));
    assert.equal((await store.intents.findById(intent.id))?.status, 'PENDING');
    assert.equal((await store.sessions.findOnline(session.id))?.id, session.id);
    const row = makeAudit({ targetSessionId: session.id });
    assert.ok((await store.intents.settleDone(intent.id, T0 + 5, session.id, end, row))?.ended);
  });

  test('intents: concurrent settleDone of one intent: one settles and ends, one SUCCESS row', async () => {
    const store = ctx.store();
    const { session, intent } = await pendingOnline(store);
    const end = { endedAt: T0 + 5, cause: 'ADMIN_DISCONNECT' as const, endedByName: 'ops' };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.intents.settleDone(intent.id, T0 + 5, session.id, end, makeAudit({ targetSessionId: session.id })),
      ),
    );
    assert.equal(results.filter((r) => r !== null).length, 1);
    assert.equal(results.filter((r) => r?.ended).length, 1);
    const rows = (await store.audit.list({ first: 10, filter: { targetSessionId: session.id } })).rows;
    assert.deepEqual(
      rows.map((r) => r.id),
      [(await store.intents.findById(intent.id))!.settledAuditEventId],
    );
  });

  test('intents: settle and markUnconfirmed change only a PENDING intent; after settling a new one may be recorded', async () => {
    const store = ctx.store();
    const intent = makeIntent({ mode: 'RESTART', blockSeconds: null, reason: null, message: null, actorTokenId: null });
    await store.intents.insertIfNoPending(intent);
    assert.equal(await store.intents.markUnconfirmed(intent.id, T0 + 5), true);
    const settlement = { status: 'DONE' as const, settledAt: T0 + 9, settledAuditEventId: newAuditEventId() };
    assert.equal(await store.intents.settle(intent.id, settlement), true);
    assert.equal(await store.intents.settle(intent.id, { ...settlement, status: 'FAILED' }), false, 'settled once');
    assert.equal(await store.intents.markUnconfirmed(intent.id, T0 + 10), false);
    assert.deepEqual(await store.intents.findById(intent.id), {
      ...intent,
      status: 'DONE',
      unconfirmedAt: T0 + 5,
      settledAt: T0 + 9,
      settledAuditEventId: settlement.settledAuditEventId,
    });
    assert.equal(await store.intents.findPending(intent.sessionId), null);
    assert.equal(await store.intents.insertIfNoPending(makeIntent({ sessionId: intent.sessionId })), true);
  });

  test('intents: concurrent inserts for one session: exactly one wins; concurrent settles: exactly one wins', async () => {
    const store = ctx.store();
    const sessionId = newSessionId();
    const inserted = await Promise.all(
      Array.from({ length: 8 }, () => store.intents.insertIfNoPending(makeIntent({ sessionId }))),
    );
    assert.equal(inserted.filter(Boolean).length, 1);
    const pending = (await store.intents.findPending(sessionId))!;
    const settled = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.intents.settle(pending.id, {
          status: i % 2 ? 'DONE' : 'NOT_FOUND',
          settledAt: T0,
          settledAuditEventId: newAuditEventId(),
        }),
      ),
    );
    assert.equal(settled.filter(Boolean).length, 1);
  });

  test('intents: pending ones by sessions (many ids) and before a time, oldest first', async () => {
    const store = ctx.store();
    const base = T0 - 10_000_000; // older than every other test's intents
    const a = makeIntent({ createdAt: base + 2 });
    const b = makeIntent({ createdAt: base + 1 });
    const c = makeIntent({ createdAt: base + 3 });
    for (const i of [a, b, c]) await store.intents.insertIfNoPending(i);
    await store.intents.settle(c.id, {
      status: 'NOT_SENT',
      settledAt: base + 4,
      settledAuditEventId: newAuditEventId(),
    });
    const ids = [a.sessionId, c.sessionId, ...Array.from({ length: 2500 }, () => newSessionId())];
    assert.deepEqual(
      (await store.intents.listPendingBySessions(ids)).map((i) => i.id),
      [a.id],
    );
    assert.deepEqual(
      (await store.intents.listPendingBefore(base + 3, 10)).map((i) => i.id),
      [b.id, a.id],
    );
    assert.deepEqual(
      (await store.intents.listPendingBefore(base + 3, 1)).map((i) => i.id),
      [b.id],
    );
  });

  test("intents: insertManyIfNoPending inserts each session's first, skips a session with one pending, splits large inserts", async () => {
    const store = ctx.store();
    const taken = makeIntent();
    assert.equal(await store.intents.insertIfNoPending(taken), true);
    const settledBefore = makeIntent();
    await store.intents.insertIfNoPending(settledBefore);
    await store.intents.settle(settledBefore.id, {
      status: 'DONE',
      settledAt: T0,
      settledAuditEventId: newAuditEventId(),
    });
    // 2,000 rows of 19 columns: more parameters than one statement may carry on either database.
    const fresh = Array.from({ length: 2000 }, () => makeIntent());
    const contested = makeIntent({ sessionId: taken.sessionId, actorName: 'second' });
    const again = makeIntent({ sessionId: settledBefore.sessionId });
    const inserted = await store.intents.insertManyIfNoPending([contested, ...fresh, again]);
    assert.deepEqual(inserted, new Set([...fresh, again].map((i) => i.id)));
    assert.equal(await store.intents.findById(contested.id), null, 'a session with a pending intent gets no second');
    assert.deepEqual(await store.intents.findPending(taken.sessionId), taken);
    assert.deepEqual(await store.intents.findById(fresh[1234]!.id), fresh[1234]);
    assert.deepEqual(await store.intents.insertManyIfNoPending([]), new Set());
  });

  test('intents: settleMany settles only PENDING ones, each with its own audit row id; racing settle() wins each intent once', async () => {
    const store = ctx.store();
    // More than one settling statement holds (500 rows each).
    const intents = Array.from({ length: 1200 }, () => makeIntent());
    await store.intents.insertManyIfNoPending(intents);
    const before = intents[7]!;
    await store.intents.settle(before.id, {
      status: 'NOT_SENT',
      settledAt: T0,
      settledAuditEventId: newAuditEventId(),
    });
    const audit = new Map(intents.map((i) => [i.id, newAuditEventId()]));
    const unknown = { id: newIntentId(), settledAuditEventId: newAuditEventId() };
    const half = intents.slice(0, 600);
    const settled = await store.intents.settleMany(
      [...half.map((i) => ({ id: i.id, settledAuditEventId: audit.get(i.id)! })), unknown],
      {
        status: 'DONE',
        settledAt: T0 + 3,
      },
    );
    assert.deepEqual(settled, new Set(half.filter((i) => i !== before).map((i) => i.id)));
    assert.deepEqual(await store.intents.findById(half[599]!.id), {
      ...half[599]!,
      status: 'DONE',
      settledAt: T0 + 3,
      settledAuditEventId: audit.get(half[599]!.id),
    });
    assert.equal(
      (await store.intents.findById(before.id))?.status,
      'NOT_SENT',
      'a settled intent is not settled again',
    );
    // The rest: one settleMany against single settles of the same intents, concurrently.
    const rest = intents.slice(600);
    const [many, ...singles] = await Promise.all([
      store.transaction((tx) =>
        tx.intents.settleMany(
          rest.map((i) => ({ id: i.id, settledAuditEventId: audit.get(i.id)! })),
          { status: 'DONE', settledAt: T0 + 4 },
        ),
      ),
      ...rest
        .filter((_, k) => k % 3 === 0)
        .map((i) =>
          store.intents.settle(i.id, { status: 'DONE', settledAt: T0 + 5, settledAuditEventId: newAuditEventId() }),
        ),
    ]);
    assert.equal(many.size + singles.filter(Boolean).length, rest.length, 'every intent settled exactly once');
    assert.deepEqual(await store.intents.listPendingBySessions(intents.map((i) => i.sessionId)), []);
    assert.deepEqual(await store.intents.settleMany([], { status: 'DONE', settledAt: T0 }), new Set());
  });
}
