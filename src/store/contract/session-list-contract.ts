import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gateway, Protocol } from '../../domain/gateway.js';
import { randomId } from '../../domain/ids.js';
import type { Session } from '../../domain/session.js';
import type { Keyset, Page, SessionFilter, SessionOrder, Store } from '../store.js';
import { T0, freshGateway, ids, makeSession, newestFirst, type ContractContext } from './fixtures.js';

const order = (rows: Session[]) =>
  newestFirst(
    rows,
    (s) => s.connectedAt,
    (s) => s.id,
  );
const keysetOf = (s: Session): Keyset => ({ at: s.connectedAt, id: s.id });

/** Every page of listOnline for `filter`, following `after` cursors; `between` runs between fetches. */
async function readAllPages(
  store: Store,
  first: number,
  filter: SessionFilter,
  between?: (page: number) => Promise<void>,
): Promise<Session[]> {
  const seen: Session[] = [];
  let after: Keyset | null = null;
  for (let page = 0; page < 1000; page++) {
    const result = await store.sessions.listOnline({ first, after, filter });
    assert.ok(result.rows.length <= first);
    seen.push(...result.rows);
    if (!result.hasNextPage) return seen;
    assert.equal(result.rows.length, first, 'a page before the last one is full');
    after = keysetOf(result.rows.at(-1)!);
    await between?.(page);
  }
  throw new Error('listOnline never reached its last page');
}

/** listOnline and countOnline: keyset order, pages, filters. */
export function sessionListContract(ctx: ContractContext): void {
  test('listOnline: newest first by (connectedAt desc, id desc), ties broken by id', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    // Three sessions share a connectedAt: the page order among them must still be total.
    const sessions = [5, 3, 3, 3, 9, 1].map((dt) => makeSession(gw, { connectedAt: T0 + dt }));
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const page = await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw } });
    assert.deepEqual(ids(page.rows), ids(order(sessions)));
    assert.equal(page.hasNextPage, false);
  });

  test('listOnlineWithGateways: the page listOnline reads, with each of its gateways as findByIds reads it', async () => {
    const store = ctx.store();
    const [a, b, other] = [await freshGateway(store), await freshGateway(store), await freshGateway(store)];
    await store.gateways.setAgentStatus(a, { agentConnected: true, lastSeenAt: T0 + 50, daemonStartedAt: T0 });
    // Five sessions of this test only (its own user-name tag), newest on `other`.
    const tag = `pg${randomId(8)}`;
    const sessions = [a, b, a, b, other].map((gw, i) =>
      makeSession(gw, { connectedAt: T0 + i, userName: `${tag}-${i}` }),
    );
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const newest = order(sessions);
    const filter = { userNameContains: tag };
    // The first page (the gateways of `other`, `b` and `a`), and the one after the newest (`b` and `a` only).
    for (const args of [
      { first: 3, filter },
      { first: 3, filter, after: keysetOf(newest[0]!) },
    ]) {
      const listed = await store.sessions.listOnline(args);
      assert.deepEqual(ids(listed.rows), ids(newest.slice(args.after ? 1 : 0).slice(0, 3)));
      // On the store itself (SQLite: its read cache, gateways null) and in a transaction (on both stores).
      const inTx = await store.transaction((tx) => tx.sessions.listOnlineWithGateways(args));
      for (const got of [await store.sessions.listOnlineWithGateways(args), inTx]) {
        assert.deepEqual(got.rows, listed.rows);
        assert.equal(got.hasNextPage, true);
      }
      const byId = (x: Gateway, y: Gateway) => x.id.localeCompare(y.id);
      const shown = [...new Set(listed.rows.map((s) => s.gatewayId))];
      assert.deepEqual([...inTx.gateways!].sort(byId), (await store.gateways.findByIds(shown)).sort(byId));
      assert.equal(inTx.gateways!.find((g) => g.id === a)?.agentConnected, true, "a's status as stored");
    }
  });

  test('listOnline: hasNextPage, an exact last page, first: 0, and after the last row', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = [1, 2, 3, 4].map((dt) => makeSession(gw, { connectedAt: T0 + dt }));
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const expected = order(sessions);
    const p1 = await store.sessions.listOnline({ first: 2, filter: { gatewayId: gw } });
    assert.deepEqual(ids(p1.rows), ids(expected.slice(0, 2)));
    assert.equal(p1.hasNextPage, true);
    const p2 = await store.sessions.listOnline({ first: 2, after: keysetOf(p1.rows[1]!), filter: { gatewayId: gw } });
    assert.deepEqual(ids(p2.rows), ids(expected.slice(2, 4)));
    assert.equal(p2.hasNextPage, false, 'exactly full last page');
    const p3 = await store.sessions.listOnline({ first: 2, after: keysetOf(p2.rows[1]!), filter: { gatewayId: gw } });
    assert.deepEqual(p3, { rows: [], hasNextPage: false });
    const none = await store.sessions.listOnline({ first: 0, filter: { gatewayId: gw } });
    assert.deepEqual(none, { rows: [], hasNextPage: true });
  });

  test('listOnline: a cursor of a session that has ended since still works', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = [1, 2, 3, 4, 5].map((dt) => makeSession(gw, { connectedAt: T0 + dt }));
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    const expected = order(sessions);
    const p1 = await store.sessions.listOnline({ first: 2, filter: { gatewayId: gw } });
    await store.sessions.markEnded(p1.rows[1]!.id, { endedAt: T0 + 100, cause: 'CLIENT_DISCONNECT' });
    const p2 = await store.sessions.listOnline({ first: 10, after: keysetOf(p1.rows[1]!), filter: { gatewayId: gw } });
    assert.deepEqual(ids(p2.rows), ids(expected.slice(2)));
  });

  test('listOnline pages: no duplicates and no gaps while sessions connect and end between fetches', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    // 20 sessions a second apart, two of them tied on connectedAt.
    const initial = Array.from({ length: 20 }, (_, i) =>
      makeSession(gw, { connectedAt: T0 + (i === 11 ? 10 : i) * 1000 }),
    );
    for (const s of initial) await store.sessions.insertIfAbsent(s);
    const byAge = order(initial);
    const late: Session[] = [];
    const endedUnseen: string[] = [];

    const seen = await readAllPages(store, 5, { gatewayId: gw }, async (page) => {
      if (page !== 0) return;
      // After page 1 (rows 0–4 newest first): end a row already seen and one not yet seen;
      // connect one session newer than the cursor (belongs to no page of this walk) and one older
      // (must show up, in its place).
      await store.sessions.markEnded(byAge[1]!.id, { endedAt: T0 + 99_000, cause: 'CLIENT_DISCONNECT' });
      await store.sessions.markEnded(byAge[8]!.id, { endedAt: T0 + 99_000, cause: 'CLIENT_DISCONNECT' });
      endedUnseen.push(byAge[8]!.id);
      const newer = makeSession(gw, { connectedAt: T0 + 500_000 });
      const older = makeSession(gw, { connectedAt: T0 + 500 });
      await store.sessions.insertIfAbsent(newer);
      await store.sessions.insertIfAbsent(older);
      late.push(older);
    });

    const seenIds = ids(seen);
    assert.equal(new Set(seenIds).size, seenIds.length, 'no session on two pages');
    const expected = [
      ...byAge.slice(0, 5),
      ...order([...byAge.slice(5).filter((s) => !endedUnseen.includes(s.id)), ...late]),
    ];
    assert.deepEqual(seenIds, ids(expected));
  });

  test('listOnline filters: each field alone, and fields combined with AND', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const alice = makeSession(gw, {
      userName: `alice-${gw}`,
      clientAddress: '198.51.100.10:40000',
      connectedAt: T0 + 1,
    });
    const alice2 = makeSession(other, {
      userName: alice.userName,
      userId: alice.userId,
      clientAddress: '[2001:db8::7]:1194',
      connectedAt: T0 + 2,
    });
    const bob = makeSession(gw, { userName: `bob-${gw}`, clientAddress: '198.51.100.10:40001', connectedAt: T0 + 3 });
    const carol = makeSession(gw, { userName: `carol-${gw}`, clientAddress: null, connectedAt: T0 + 4 });
    for (const s of [alice, alice2, bob, carol]) await store.sessions.insertIfAbsent(s);
    const mine = { gatewayId: gw };
    const list = async (filter: SessionFilter) => ids((await store.sessions.listOnline({ first: 50, filter })).rows);

    assert.deepEqual(await list({ userName: alice.userName }), [alice2.id, alice.id]);
    assert.deepEqual(await list({ userId: alice.userId }), [alice2.id, alice.id]);
    assert.deepEqual(await list(mine), [carol.id, bob.id, alice.id]);
    assert.deepEqual(await list({ ...mine, clientIp: '198.51.100.10' }), [bob.id, alice.id]);
    assert.deepEqual(
      await list({ clientIp: '2001:db8::7', userName: alice.userName }),
      [alice2.id],
      'client IP of [v6]:port',
    );
    assert.deepEqual(await list({ ...mine, protocol: 'openvpn' }), [carol.id, bob.id, alice.id]);
    assert.deepEqual(await list({ ...mine, protocol: 'wireguard' as Protocol }), []);
    assert.deepEqual(
      await list({ ...mine, connectedAfter: T0 + 1 }),
      [carol.id, bob.id],
      'connectedAfter is exclusive',
    );
    assert.deepEqual(
      await list({ ...mine, connectedBefore: T0 + 4 }),
      [bob.id, alice.id],
      'connectedBefore is exclusive',
    );
    assert.deepEqual(await list({ ...mine, connectedAfter: T0 + 1, connectedBefore: T0 + 4 }), [bob.id]);
    assert.deepEqual(await list({ ...mine, userName: alice.userName }), [alice.id]);
    assert.deepEqual(await list({ gatewayId: other, userName: bob.userName }), []);
  });

  test('listOnline filters page by keyset too', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const userName = `pager-${gw}`;
    const mine = Array.from({ length: 7 }, (_, i) => makeSession(gw, { userName, connectedAt: T0 + (i % 3) }));
    const noise = Array.from({ length: 5 }, (_, i) => makeSession(gw, { connectedAt: T0 + i }));
    for (const s of [...mine, ...noise]) await store.sessions.insertIfAbsent(s);
    assert.deepEqual(ids(await readAllPages(store, 2, { gatewayId: gw, userName })), ids(order(mine)));
  });

  test('countOnline counts online sessions only, with each filter', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const before = await store.sessions.countOnline();
    const userName = `counted-${gw}`;
    const sessions = [
      makeSession(gw, { userName, clientAddress: '192.0.2.1:1000', connectedAt: T0 + 1 }),
      makeSession(gw, { userName, clientAddress: '192.0.2.1:1001', connectedAt: T0 + 2 }),
      makeSession(gw, { clientAddress: '192.0.2.2:1000', connectedAt: T0 + 3 }),
    ];
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    assert.equal(await store.sessions.countOnline(), before + 3);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 3);
    assert.equal(await store.sessions.countOnline({ userName }), 2);
    assert.equal(await store.sessions.countOnline({ userId: sessions[0]!.userId }), 2);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, clientIp: '192.0.2.1' }), 2);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, protocol: 'openvpn' }), 3);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, connectedAfter: T0 + 1 }), 2);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, connectedBefore: T0 + 2 }), 1);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, userName, clientIp: '192.0.2.2' }), 0);

    await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 10, cause: 'CLIENT_DISCONNECT' });
    assert.equal(await store.sessions.countOnline({ userName }), 1);
    assert.equal(await store.sessions.countOnline(), before + 2);
  });

  test('filters: userNameContains is partial and ignores case; % and _ match themselves; address matches as shown', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const tag = randomTag();
    const alice = makeSession(gw, {
      userName: `Alice-${tag}`,
      clientAddress: '198.51.100.20:40001',
      virtualAddress: '10.9.0.2',
    });
    const malik = makeSession(gw, {
      userName: `malik-${tag}`,
      clientAddress: '198.51.100.20:40002',
      virtualAddress: '10.9.0.3',
    });
    const pct = makeSession(gw, {
      userName: `100%_${tag}`,
      clientAddress: '[2001:db8::7]:40003',
      virtualAddress: null,
      virtualAddress6: 'fd00::9',
    });
    for (const x of [alice, malik, pct]) await store.sessions.insertIfAbsent(x);
    const find = async (filter: SessionFilter) =>
      ids((await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw, ...filter } })).rows).sort();
    assert.deepEqual(
      await find({ userNameContains: 'ALI' }),
      ids([alice, malik]).sort(),
      'ali is in Alice and in malik',
    );
    assert.deepEqual(await find({ userNameContains: `alice-${tag}` }), [alice.id]);
    assert.deepEqual(await find({ userNameContains: '%' }), [pct.id], '% is not a wildcard');
    assert.deepEqual(await find({ userNameContains: '0_' }), [], '_ is not a wildcard');
    assert.deepEqual(await find({ userNameContains: '%_' }), [pct.id]);
    assert.deepEqual(await find({ address: '198.51.100.20:40002' }), [malik.id], 'ip:port as the console shows it');
    assert.deepEqual(await find({ address: '198.51.100.20' }), ids([alice, malik]).sort(), 'the IP alone');
    assert.deepEqual(await find({ address: '10.9.0.2' }), [alice.id], 'a virtual address');
    assert.deepEqual(await find({ address: '[2001:db8::7]:40003' }), [pct.id]);
    assert.deepEqual(await find({ address: '[2001:db8::7]' }), [pct.id]);
    assert.deepEqual(await find({ address: '2001:db8::7' }), [pct.id]);
    assert.deepEqual(await find({ address: 'fd00::9' }), [pct.id]);
    assert.deepEqual(await find({ address: '198.51.100.2' }), [], 'exact, not a prefix');
    assert.equal(await store.sessions.countOnline({ gatewayId: gw, userNameContains: 'ali' }), 2);
  });

  test('listOnlineSorted: by user (ignoring case), gateway and traffic, both directions, paged by id without gaps', async () => {
    const store = ctx.store();
    const gwA = await freshGateway(store);
    const gwB = await freshGateway(store);
    const tag = randomTag();
    const specs: [string, string, number][] = [
      ['carol', gwA, 500],
      ['Bob', gwB, 100],
      ['alice', gwA, 900],
      ['dave', gwB, 100],
      ['Eve', gwA, 0],
    ];
    const sessions = specs.map(([name, gw, traffic], i) =>
      makeSession(gw, { userName: `${tag}-${name}`, bytesReceived: traffic, bytesSent: i, connectedAt: T0 + i }),
    );
    for (const x of sessions) await store.sessions.insertIfAbsent(x);
    const filter: SessionFilter = { userNameContains: tag };
    const pages = async (order: SessionOrder) => {
      const seen: string[] = [];
      let afterId: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: Page<Session> = await store.sessions.listOnlineSorted({ first: 2, afterId, filter, order });
        seen.push(...page.rows.map((r) => r.userName.slice(tag.length + 1)));
        if (!page.hasNextPage) return seen;
        afterId = page.rows.at(-1)!.id;
      }
      throw new Error('never reached the last page');
    };
    assert.deepEqual(await pages({ field: 'USER', direction: 'ASC' }), ['alice', 'Bob', 'carol', 'dave', 'Eve']);
    assert.deepEqual(await pages({ field: 'USER', direction: 'DESC' }), ['Eve', 'dave', 'carol', 'Bob', 'alice']);
    assert.deepEqual(
      await pages({ field: 'TRAFFIC', direction: 'DESC' }),
      ['alice', 'carol', 'dave', 'Bob', 'Eve'],
      'bytesReceived + bytesSent',
    );
    assert.deepEqual(await pages({ field: 'CONNECTED_AT', direction: 'ASC' }), [
      'carol',
      'Bob',
      'alice',
      'dave',
      'Eve',
    ]);
    const byGateway = await pages({ field: 'GATEWAY', direction: 'ASC' });
    const first = gwA < gwB ? ['carol', 'alice', 'Eve'] : ['Bob', 'dave'];
    assert.deepEqual(byGateway.slice(0, first.length).sort(), first.sort(), 'one gateway, then the other');
    // A cursor row that has ended since still places the next page.
    const p1 = await store.sessions.listOnlineSorted({ first: 2, filter, order: { field: 'USER', direction: 'ASC' } });
    await store.sessions.markEnded(p1.rows[1]!.id, { endedAt: T0 + 50, cause: 'CLIENT_DISCONNECT' });
    const p2 = await store.sessions.listOnlineSorted({
      first: 2,
      afterId: p1.rows[1]!.id,
      filter,
      order: { field: 'USER', direction: 'ASC' },
    });
    assert.deepEqual(
      p2.rows.map((r) => r.userName.slice(tag.length + 1)),
      ['carol', 'dave'],
    );
  });
}

function randomTag(): string {
  return `t${Math.random().toString(36).slice(2, 8)}`;
}
