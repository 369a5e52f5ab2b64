import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import type { AuditEvent } from '../../domain/audit.js';
import { randomId } from '../../domain/ids.js';
import { KyselyStore } from '../kysely/kysely-store.js';
import type { AuditFilter, Keyset } from '../store.js';
import { T0, ids, makeAudit, newestFirst, type ContractContext } from './fixtures.js';

const order = (rows: AuditEvent[]) =>
  newestFirst(
    rows,
    (e) => e.at,
    (e) => e.id,
  );

/** The audit log: append, list newest first by keyset with filters, and nothing else, ever. */
export function auditContract(ctx: ContractContext): void {
  test('append then list: every field round-trips, newest first with id tie-break', async () => {
    const store = ctx.store();
    // Far in the future, so these are the newest events in the database whatever ran before.
    const at = 4_102_444_800_000;
    const full = makeAudit({
      at,
      actorTokenId: 'tok_abcdefghijkl',
      targetSessionId: 'sess_abcdefghijkl',
      targetUserName: 'alice',
      targetGatewayId: 'gw-1',
      reason: 'abuse',
      errorCode: null,
      durationMs: 1234.567,
      metadata: { mode: 'RESTART', message: 'bye', nested: { n: 1, list: [1, 'two'] } },
    });
    const tied = [
      makeAudit({ at }),
      makeAudit({
        at,
        outcome: 'FAILED',
        errorCode: 'INTERNAL',
        durationMs: null,
        actorIp: null,
        actorUserAgent: null,
        requestId: null,
        metadata: {},
      }),
    ];
    const older = makeAudit({ at: at - 1 });
    for (const e of [older, full, ...tied]) await store.audit.append(e);
    const page = await store.audit.list({ first: 3 });
    assert.deepEqual(page.rows, order([full, ...tied]));
    assert.equal(page.hasNextPage, true);
    const last = page.rows.at(-1)!;
    const next = await store.audit.list({ first: 1, after: { at: last.at, id: last.id } });
    assert.deepEqual(next.rows, [older]);
  });

  test('appendMany: every row as append writes it, in statements within the parameter limit', async () => {
    const store = ctx.store();
    const gw = `gw-many-${randomId(6)}`;
    // 2,500 rows of 16 columns: more parameters than one statement may carry on either database.
    const events = Array.from({ length: 2500 }, (_, i) =>
      makeAudit({ at: T0 + i, targetGatewayId: gw, metadata: { intentId: `int_${i}`, nested: { n: i } } }),
    );
    await store.audit.appendMany(events);
    await store.audit.appendMany([]);
    assert.equal(await store.audit.count({ targetGatewayId: gw }), 2500);
    const newest = await store.audit.list({ first: 2, filter: { targetGatewayId: gw } });
    assert.deepEqual(newest.rows, [events[2499], events[2498]]);
    await assert.rejects(store.audit.appendMany([makeAudit(), events[0]!]), 'a duplicate id fails the whole call');
    assert.equal(await store.audit.count({ targetGatewayId: gw }), 2500);
  });

  test('count applies the same filters as list', async () => {
    const store = ctx.store();
    const gw = `gw-count-${randomId(6)}`;
    for (const outcome of ['SUCCESS', 'SUCCESS', 'NOT_FOUND'] as const)
      await store.audit.append(makeAudit({ targetGatewayId: gw, outcome }));
    assert.equal(await store.audit.count({ targetGatewayId: gw }), 3);
    assert.equal(await store.audit.count({ targetGatewayId: gw, outcome: 'SUCCESS' }), 2);
    assert.equal(await store.audit.count({ targetGatewayId: `${gw}-none` }), 0);
  });

  test('a request id is stored and found again: every row of one request, and only those', async () => {
    const store = ctx.store();
    const requestId = `req-${randomId(12)}`;
    const mine = [makeAudit({ requestId, outcome: 'PENDING' }), makeAudit({ requestId, at: T0 + 1 })];
    for (const e of [...mine, makeAudit({ requestId: `${requestId}-other` }), makeAudit({ requestId: null })])
      await store.audit.append(e);
    const page = await store.audit.list({ first: 10, filter: { requestId } });
    assert.deepEqual(page.rows, order(mine));
    assert.equal(await store.audit.count({ requestId }), 2);
  });

  test('list pages by keyset without duplicates or gaps', async () => {
    const store = ctx.store();
    const gatewayId = `gw-${randomId(8)}`;
    const events = Array.from({ length: 11 }, (_, i) =>
      makeAudit({ at: T0 + (i % 4) * 1000, targetGatewayId: gatewayId }),
    );
    for (const e of events) await store.audit.append(e);
    const seen: AuditEvent[] = [];
    let after: Keyset | null = null;
    for (;;) {
      const page = await store.audit.list({ first: 3, after, filter: { targetGatewayId: gatewayId } });
      seen.push(...page.rows);
      if (!page.hasNextPage) break;
      after = { at: page.rows.at(-1)!.at, id: page.rows.at(-1)!.id };
    }
    assert.deepEqual(ids(seen), ids(order(events)));
  });

  test('list filters: each field alone, and combined with AND', async () => {
    const store = ctx.store();
    const tag = randomId(8);
    const gatewayId = `gw-${tag}`;
    const base = { targetGatewayId: gatewayId };
    const a = makeAudit({
      ...base,
      at: T0 + 1,
      action: 'session.disconnect',
      outcome: 'SUCCESS',
      actorTokenId: `tok_${tag}aaaa`,
      targetSessionId: `sess_${tag}aaaa`,
      targetUserName: `alice-${tag}`,
    });
    const b = makeAudit({
      ...base,
      at: T0 + 2,
      action: 'session.disconnect',
      outcome: 'NOT_FOUND',
      actorTokenId: `tok_${tag}bbbb`,
      targetSessionId: `sess_${tag}bbbb`,
      targetUserName: `bob-${tag}`,
    });
    const c = makeAudit({
      ...base,
      at: T0 + 3,
      action: 'token.create',
      outcome: 'SUCCESS',
      actorTokenId: `tok_${tag}aaaa`,
    });
    const d = makeAudit({
      ...base,
      at: T0 + 4,
      action: 'token.revoke',
      outcome: 'FORBIDDEN',
      actorTokenId: `tok_${tag}bbbb`,
    });
    for (const e of [a, b, c, d]) await store.audit.append(e);
    const list = async (filter: AuditFilter) =>
      ids((await store.audit.list({ first: 50, filter: { ...base, ...filter } })).rows);

    assert.deepEqual(await list({}), [d.id, c.id, b.id, a.id]);
    assert.deepEqual(await list({ action: 'session.disconnect' }), [b.id, a.id]);
    assert.deepEqual(await list({ outcome: 'SUCCESS' }), [c.id, a.id]);
    assert.deepEqual(await list({ actorTokenId: `tok_${tag}aaaa` }), [c.id, a.id]);
    assert.deepEqual(await list({ targetSessionId: `sess_${tag}bbbb` }), [b.id]);
    assert.deepEqual(await list({ targetUserName: `alice-${tag}` }), [a.id]);
    assert.deepEqual(await list({ since: T0 + 2 }), [d.id, c.id, b.id], 'since is inclusive');
    assert.deepEqual(await list({ until: T0 + 3 }), [b.id, a.id], 'until is exclusive');
    assert.deepEqual(await list({ since: T0 + 2, until: T0 + 4 }), [c.id, b.id]);
    assert.deepEqual(await list({ action: 'session.disconnect', outcome: 'SUCCESS' }), [a.id]);
    assert.deepEqual(await list({ actorTokenId: `tok_${tag}bbbb`, action: 'token.create' }), []);
    // Filters without the gateway, each on a value only this test used.
    assert.deepEqual(
      ids((await store.audit.list({ first: 50, filter: { targetSessionId: `sess_${tag}aaaa` } })).rows),
      [a.id],
    );
    assert.deepEqual(ids((await store.audit.list({ first: 50, filter: { targetUserName: `bob-${tag}` } })).rows), [
      b.id,
    ]);
  });

  test('appendIfAbsent writes an id once; a second append of it changes nothing', async () => {
    const store = ctx.store();
    const event = makeAudit({ targetGatewayId: `gw-${randomId(8)}`, reason: 'first' });
    assert.equal(await store.audit.appendIfAbsent(event), true);
    assert.equal(await store.audit.appendIfAbsent({ ...event, reason: 'second' }), false);
    assert.deepEqual((await store.audit.list({ first: 5, filter: { targetGatewayId: event.targetGatewayId! } })).rows, [
      event,
    ]);
  });

  test('the database itself refuses UPDATE and DELETE of audit events', async () => {
    const store = ctx.store();
    assert.ok(store instanceof KyselyStore, 'raw SQL needs the Kysely store');
    const event = makeAudit({ reason: 'original', targetGatewayId: `gw-${randomId(8)}` });
    await store.audit.append(event);
    const refused = ctx.auditRefusal ?? /append-only/;
    await assert.rejects(
      sql`update audit_events set reason = 'forged' where id = ${event.id}`.execute(store.db),
      refused,
    );
    await assert.rejects(sql`delete from audit_events where id = ${event.id}`.execute(store.db), refused);
    await assert.rejects(sql`delete from audit_events`.execute(store.db), refused);
    const [stored] = (await store.audit.list({ first: 1, filter: { targetGatewayId: event.targetGatewayId! } })).rows;
    assert.deepEqual(stored, event);
  });
}
