import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Session } from '../../domain/session.js';
import type { Keyset, SessionHistoryFilter, Store } from '../store.js';
import { T0, freshGateway, ids, makeSession, newestFirst, type ContractContext } from './fixtures.js';

const keysetOf = (s: Session): Keyset => ({ at: s.connectedAt, id: s.id });

/** Every page of listHistory for `filter`, following `after` cursors. */
async function readHistory(store: Store, first: number, filter: SessionHistoryFilter): Promise<Session[]> {
  const seen: Session[] = [];
  let after: Keyset | null = null;
  for (let page = 0; page < 1000; page++) {
    const result = await store.sessions.listHistory({ first, after, filter });
    seen.push(...result.rows);
    if (!result.hasNextPage) return seen;
    assert.equal(result.rows.length, first, 'a page before the last one is full');
    after = keysetOf(result.rows.at(-1)!);
  }
  throw new Error('listHistory never reached its last page');
}

/** listHistory and countHistory: online and ended sessions, newest first, filters, pages. */
export function sessionHistoryContract(ctx: ContractContext): void {
  test('listHistory: online and ended sessions newest first, each ended one with cause, actor, reason and final traffic', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = [4, 1, 3, 3, 7, 2].map((dt) => makeSession(gw, { connectedAt: T0 + dt * 1000 }));
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const [byOperator, byClient] = [sessions[0]!, sessions[1]!];
    await store.sessions.markEnded(byOperator.id, {
      endedAt: T0 + 60_000,
      cause: 'ADMIN_DISCONNECT',
      endedByTokenId: 'tok_history1',
      endedByName: 'oncall',
      endReason: 'stolen laptop',
      finalStats: { bytesReceived: 5_000_000_000, bytesSent: 42, lastSeenAt: T0 + 59_000 },
    });
    await store.sessions.markEnded(byClient.id, { endedAt: T0 + 30_000, cause: 'CLIENT_DISCONNECT' });

    const rows = await readHistory(store, 2, { gatewayId: gw });
    const expected = newestFirst(
      sessions,
      (s) => s.connectedAt,
      (s) => s.id,
    );
    assert.deepEqual(ids(rows), ids(expected), 'every session once, ended ones included, in keyset order');
    const operator = rows.find((s) => s.id === byOperator.id)!;
    assert.equal(operator.endedAt, T0 + 60_000);
    assert.equal(operator.endCause, 'ADMIN_DISCONNECT');
    assert.equal(operator.endedByTokenId, 'tok_history1');
    assert.equal(operator.endedByName, 'oncall');
    assert.equal(operator.endReason, 'stolen laptop');
    assert.equal(operator.bytesReceived, 5_000_000_000);
    assert.equal(operator.bytesSent, 42);
    const client = rows.find((s) => s.id === byClient.id)!;
    assert.equal(client.endCause, 'CLIENT_DISCONNECT');
    assert.equal(client.endedByName, null);
    assert.equal(await store.sessions.countHistory({ gatewayId: gw }), 6);

    const ended = await store.sessions.listHistory({ first: 10, filter: { gatewayId: gw, ended: true } });
    assert.deepEqual(ids(ended.rows), [byOperator.id, byClient.id]);
    const online = await store.sessions.listHistory({ first: 10, filter: { gatewayId: gw, ended: false } });
    assert.equal(online.rows.length, 4);
    assert.ok(online.rows.every((s) => s.endedAt === null));
    assert.equal(await store.sessions.countHistory({ gatewayId: gw, ended: true }), 2);
    assert.deepEqual(await store.sessions.listHistory({ first: 0, filter: { gatewayId: gw } }), {
      rows: [],
      hasNextPage: true,
    });
  });

  test('listHistory filters: the whole user name without regard to case, an address as shown, one session', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const name = `Hist-${Math.random().toString(36).slice(2, 8)}`;
    const mk = (gateway: string, userName: string, dt: number, extra: Partial<Session> = {}) =>
      makeSession(gateway, { userName, connectedAt: T0 + dt, ...extra });
    const a1 = mk(gw, name, 1, { clientAddress: '198.51.100.31:40001', virtualAddress: '10.31.0.2' });
    const a2 = mk(other, name.toLowerCase(), 2, { clientAddress: '198.51.100.31:40002', virtualAddress: '10.31.0.3' });
    const a3 = mk(gw, name.toUpperCase(), 3, {
      clientAddress: '[2001:db8::31]:40003',
      virtualAddress: null,
      virtualAddress6: 'fd00::31',
    });
    const longer = mk(gw, `${name}x`, 4, { clientAddress: '198.51.100.32:40004', virtualAddress: '10.31.0.4' });
    for (const s of [a1, a2, a3, longer]) await store.sessions.insertIfAbsent(s);
    await store.sessions.markEnded(a1.id, { endedAt: T0 + 10, cause: 'GATEWAY_RESTART' });
    await store.sessions.markEnded(a2.id, { endedAt: T0 + 10, cause: 'CLIENT_DISCONNECT' });
    const find = async (filter: SessionHistoryFilter) =>
      ids((await store.sessions.listHistory({ first: 50, filter })).rows);

    assert.deepEqual(await find({ userName: name.toLowerCase() }), ids([a3, a2, a1]), 'any case, every gateway');
    assert.deepEqual(await find({ userName: name.slice(0, 5) }), [], 'the whole name, not a part');
    assert.deepEqual(await find({ userName: name, gatewayId: gw }), ids([a3, a1]));
    assert.equal(await store.sessions.countHistory({ userName: name.toUpperCase() }), 3);
    assert.deepEqual(await find({ address: '198.51.100.31:40001' }), [a1.id], 'ip:port as the console shows it');
    assert.deepEqual(await find({ address: '198.51.100.31' }), ids([a2, a1]), 'the IP alone');
    assert.deepEqual(await find({ address: '10.31.0.3' }), [a2.id], 'a virtual address');
    assert.deepEqual(await find({ address: '[2001:db8::31]:40003' }), [a3.id]);
    assert.deepEqual(await find({ address: '[2001:db8::31]' }), [a3.id]);
    assert.deepEqual(await find({ address: '2001:db8::31' }), [a3.id]);
    assert.deepEqual(await find({ address: 'fd00::31' }), [a3.id]);
    assert.deepEqual(await find({ address: '198.51.100.3' }), [], 'exact, not a prefix');
    assert.deepEqual(await find({ address: '198.51.100.31:4000' }), [], 'the port exactly');
    assert.deepEqual(await find({ sessionId: a1.id }), [a1.id], 'one session, ended');
    assert.deepEqual(await find({ sessionId: a1.id, userName: 'someone-else' }), [], 'fields combine with AND');
  });

  test('listHistory pages by keyset across online and ended rows, and a cursor of a row that ended since still works', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = [1, 2, 3, 4, 5].map((dt) => makeSession(gw, { connectedAt: T0 + dt }));
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const p1 = await store.sessions.listHistory({ first: 2, filter: { gatewayId: gw } });
    await store.sessions.markEnded(p1.rows[1]!.id, { endedAt: T0 + 100, cause: 'CLIENT_DISCONNECT' });
    await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 100, cause: 'CLIENT_DISCONNECT' });
    const p2 = await store.sessions.listHistory({ first: 10, after: keysetOf(p1.rows[1]!), filter: { gatewayId: gw } });
    assert.deepEqual(ids(p2.rows), ids([sessions[2]!, sessions[1]!, sessions[0]!]), 'ended rows stay in place');
    assert.equal(p2.hasNextPage, false);
  });
}
