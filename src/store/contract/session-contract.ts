import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import type { SessionEnd } from '../store.js';
import { T0, freshGateway, ids, kysely, makeSession, type ContractContext } from './fixtures.js';

const ADMIN_END: SessionEnd = {
  endedAt: T0 + 60_000,
  cause: 'ADMIN_DISCONNECT',
  endedByTokenId: 'tok_aaaaaaaaaaaa',
  endedByName: 'ops',
  endReason: 'abuse',
};
/** The daemon's echo of an admin disconnect: right cause, but nobody known to have asked for it. */
const ECHO_END: SessionEnd = { endedAt: T0 + 59_000, cause: 'ADMIN_DISCONNECT' };

/** Single-session reads and writes: insert, finds, stats, markEnded and its races. */
export function sessionContract(ctx: ContractContext): void {
  test('insert then findById / findOnline / findByRef return the same session, numbers as numbers', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw, { connectedAt: T0 + 1, bytesReceived: 5_000_000_000, bytesSent: 7 });
    await store.sessions.insertIfAbsent(s);
    assert.deepEqual(await store.sessions.findById(s.id), s);
    assert.deepEqual(await store.sessions.findOnline(s.id), s);
    assert.deepEqual(await store.sessions.findByRef(gw, s.ref), s);
    const found = await store.sessions.findById(s.id);
    assert.equal(typeof found?.connectedAt, 'number');
    assert.equal(typeof found?.bytesReceived, 'number');
    assert.equal(await store.sessions.findById('sess_doesnotexist'), null);
    assert.equal(await store.sessions.findByRef(gw, 'no-such-ref'), null);
  });

  test('findByRefs: the sessions (online or ended) of the given refs of that gateway only; unknown refs left out', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const a = makeSession(gw, { connectedAt: T0 + 1 });
    const b = makeSession(gw, { connectedAt: T0 + 2 });
    const elsewhere = makeSession(other, { connectedAt: T0 + 3, ref: a.ref });
    for (const s of [a, b, elsewhere]) await store.sessions.insertIfAbsent(s);
    await store.sessions.markEnded(b.id, ADMIN_END);
    const found = await store.sessions.findByRefs(gw, [a.ref, b.ref, 'no-such-ref', a.ref]);
    assert.deepEqual(found.map((s) => s.id).sort(), [a.id, b.id].sort());
    assert.deepEqual(
      found.find((s) => s.id === a.id),
      a,
    );
    assert.equal(found.find((s) => s.id === b.id)?.endCause, 'ADMIN_DISCONNECT');
    assert.deepEqual(await store.sessions.findByRefs(gw, []), []);
  });

  test("a session's group and tun device are stored and returned (one by one and in bulk), null when absent", async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const one = makeSession(gw, { group: 'engineering', device: 'vpns0' });
    const many = [makeSession(gw, { group: 'x'.repeat(512), device: 'vpns12' }), makeSession(gw)];
    await store.sessions.insertIfAbsent(one);
    await store.sessions.insertManyIfAbsent(many);
    assert.deepEqual(await store.sessions.findById(one.id), one);
    const [long, none] = await Promise.all(many.map((s) => store.sessions.findById(s.id)));
    assert.equal(long?.group, 'x'.repeat(512));
    assert.equal(long?.device, 'vpns12');
    assert.equal(none?.group, null);
    assert.equal(none?.device, null);
    const listed = await store.sessions.listOnlineByGateway(gw);
    assert.deepEqual(
      listed.find((s) => s.id === one.id),
      one,
    );
  });

  test("a session's transport is stored and returned (one by one and in bulk), null when absent", async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const [udp, tcp, none] = [
      makeSession(gw, { transport: 'UDP' }),
      makeSession(gw, { transport: 'TCP' }),
      makeSession(gw),
    ];
    await store.sessions.insertIfAbsent(udp);
    await store.sessions.insertManyIfAbsent([tcp, none]);
    for (const s of [udp, tcp, none]) assert.deepEqual(await store.sessions.findById(s.id), s);
    const listed = await store.sessions.listOnlineByGateway(gw);
    assert.deepEqual(
      [udp, tcp, none].map((s) => listed.find((l) => l.id === s.id)?.transport),
      ['UDP', 'TCP', null],
    );
  });

  test('(gateway_id, ref) is unique; the same ref on another gateway is fine', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    assert.equal(await store.sessions.insertIfAbsent(makeSession(gw, { ref: s.ref })), false);
    await store.sessions.insertIfAbsent(makeSession(other, { ref: s.ref }));
    assert.equal((await store.sessions.findByRef(other, s.ref))?.gatewayId, other);
  });

  test('insertIfAbsent inserts once per (gateway_id, ref); of 10 concurrent callers exactly one wins', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const first = makeSession(gw);
    assert.equal(await store.sessions.insertIfAbsent(first), true);
    assert.deepEqual(await store.sessions.findById(first.id), first);
    const clash = makeSession(gw, { ref: first.ref, userName: 'someone-else' });
    assert.equal(await store.sessions.insertIfAbsent(clash), false);
    assert.equal(await store.sessions.findById(clash.id), null, 'the losing row is not written');
    assert.equal((await store.sessions.findByRef(gw, first.ref))?.id, first.id);
    assert.equal(
      await store.sessions.insertIfAbsent(makeSession(other, { ref: first.ref })),
      true,
      'same ref, other gateway',
    );

    const ref = `race:${first.ref}`;
    const racers = Array.from({ length: 10 }, () => makeSession(gw, { ref }));
    const results = await Promise.all(racers.map((s) => store.transaction((tx) => tx.sessions.insertIfAbsent(s))));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await store.sessions.findByRef(gw, ref))?.id, racers[results.indexOf(true)]!.id);
  });

  test('a session must belong to a known gateway (foreign key enforced)', async () => {
    await assert.rejects(ctx.store().sessions.insertIfAbsent(makeSession('gw-never-registered')));
  });

  test('updateStats refreshes counters and last-seen of an online session only', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    await store.sessions.updateStats(s.id, { bytesReceived: 4_294_967_296, bytesSent: 99, lastSeenAt: T0 + 30_000 });
    const updated = await store.sessions.findById(s.id);
    assert.equal(updated?.bytesReceived, 4_294_967_296);
    assert.equal(updated?.bytesSent, 99);
    assert.equal(updated?.lastSeenAt, T0 + 30_000);

    assert.ok(await store.sessions.markEnded(s.id, { endedAt: T0 + 40_000, cause: 'CLIENT_DISCONNECT' }));
    await store.sessions.updateStats(s.id, { bytesReceived: 1, bytesSent: 1, lastSeenAt: T0 + 50_000 });
    assert.equal((await store.sessions.findById(s.id))?.bytesReceived, 4_294_967_296);
  });

  test('markEnded with finalStats writes the last counters with the end, only when it ends the session', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    const finalStats = { bytesReceived: 5_000_000_001, bytesSent: 12, lastSeenAt: T0 + 9_000 };
    assert.ok(await store.sessions.markEnded(s.id, { endedAt: T0 + 9_000, cause: 'CLIENT_DISCONNECT', finalStats }));
    const ended = await store.sessions.findById(s.id);
    assert.deepEqual(
      [ended?.bytesReceived, ended?.bytesSent, ended?.lastSeenAt, ended?.endedAt],
      [5_000_000_001, 12, T0 + 9_000, T0 + 9_000],
    );
    const again = { bytesReceived: 1, bytesSent: 1, lastSeenAt: T0 + 10_000 };
    assert.equal(
      await store.sessions.markEnded(s.id, { endedAt: T0 + 10_000, cause: 'CLIENT_DISCONNECT', finalStats: again }),
      null,
    );
    assert.equal((await store.sessions.findById(s.id))?.bytesReceived, 5_000_000_001);
  });

  test('markEnded ends once: history keeps the row, online reads no longer see it', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    assert.ok(await store.sessions.markEnded(s.id, ADMIN_END));
    assert.equal(await store.sessions.markEnded(s.id, { endedAt: T0 + 70_000, cause: 'CLIENT_DISCONNECT' }), null);
    assert.equal(await store.sessions.markEnded('sess_doesnotexist', ADMIN_END), null);

    assert.equal(await store.sessions.findOnline(s.id), null);
    const ended = await store.sessions.findByRef(gw, s.ref);
    assert.deepEqual(
      {
        endedAt: ended?.endedAt,
        endCause: ended?.endCause,
        by: ended?.endedByTokenId,
        name: ended?.endedByName,
        reason: ended?.endReason,
      },
      {
        endedAt: ADMIN_END.endedAt,
        endCause: 'ADMIN_DISCONNECT',
        by: 'tok_aaaaaaaaaaaa',
        name: 'ops',
        reason: 'abuse',
      },
    );
    assert.deepEqual(await store.sessions.findById(s.id), ended);
    assert.deepEqual(ids(await store.sessions.listOnlineByGateway(gw)), []);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 0);
  });

  test('markEnded: exactly one of 20 concurrent calls wins', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.sessions.markEnded(s.id, { ...ADMIN_END, endedByName: `caller-${i}` }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.findIndex(Boolean);
    assert.equal((await store.sessions.findById(s.id))?.endedByName, `caller-${winner}`);
    // What the winner got back is the row as it is now.
    assert.deepEqual(results[winner], await store.sessions.findById(s.id));
  });

  test('markEnded: exactly one of 20 concurrent calls wins when half of them claim echoes', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.sessions.markEnded(s.id, { ...ADMIN_END, endedByName: `caller-${i}` }, { claimEcho: i % 2 === 0 }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('claimEcho: an admin disconnect claims the echo that arrived first, once', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    assert.ok(await store.sessions.markEnded(s.id, ECHO_END));
    // Without claimEcho an ended session stays as it is.
    assert.equal(await store.sessions.markEnded(s.id, ADMIN_END), null);
    assert.equal((await store.sessions.findById(s.id))?.endedByName, null);

    assert.ok(await store.sessions.markEnded(s.id, ADMIN_END, { claimEcho: true }));
    const claimed = await store.sessions.findById(s.id);
    assert.equal(claimed?.endCause, 'ADMIN_DISCONNECT');
    assert.equal(claimed?.endedByTokenId, ADMIN_END.endedByTokenId);
    assert.equal(claimed?.endedByName, 'ops');
    assert.equal(claimed?.endReason, 'abuse');
    assert.equal(claimed?.endedAt, ECHO_END.endedAt, 'the echo knew when the daemon dropped the client');

    assert.equal(
      await store.sessions.markEnded(s.id, { ...ADMIN_END, endedByName: 'late' }, { claimEcho: true }),
      null,
    );
    assert.equal((await store.sessions.findById(s.id))?.endedByName, 'ops');
  });

  test('claimEcho does not claim a session that ended any other way', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const byClient = makeSession(gw);
    const byAdmin = makeSession(gw);
    await store.sessions.insertIfAbsent(byClient);
    await store.sessions.insertIfAbsent(byAdmin);
    assert.ok(await store.sessions.markEnded(byClient.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' }));
    assert.ok(await store.sessions.markEnded(byAdmin.id, ADMIN_END));
    assert.equal(await store.sessions.markEnded(byClient.id, ADMIN_END, { claimEcho: true }), null);
    assert.equal(
      await store.sessions.markEnded(byAdmin.id, { ...ADMIN_END, endedByName: 'other' }, { claimEcho: true }),
      null,
    );
    assert.equal((await store.sessions.findById(byClient.id))?.endCause, 'CLIENT_DISCONNECT');
    assert.equal((await store.sessions.findById(byAdmin.id))?.endedByName, 'ops');
  });

  test('markEndedMany with claimEcho: online ones and unclaimed echoes get the actor (an echo keeps its time); other ends stay', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const [online, echoed, byClient, byAdmin] = Array.from({ length: 4 }, () => makeSession(gw));
    for (const s of [online!, echoed!, byClient!, byAdmin!]) await store.sessions.insertIfAbsent(s);
    assert.ok(await store.sessions.markEnded(echoed!.id, ECHO_END));
    assert.ok(await store.sessions.markEnded(byClient!.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' }));
    assert.ok(await store.sessions.markEnded(byAdmin!.id, ADMIN_END));
    const all = [online!, echoed!, byClient!, byAdmin!].map((s) => s.id);
    const end = { ...ADMIN_END, endedByName: 'bulk', endedAt: T0 + 90_000 };
    assert.deepEqual(await store.sessions.markEndedMany([echoed!.id], end), [], 'without claimEcho an echo stays');
    const claimed = await store.sessions.markEndedMany(all, end, { claimEcho: true });
    assert.deepEqual(
      claimed.map((s) => [s.id, s.endedAt, s.endedByName, s.endReason]).sort(),
      [
        [online!.id, end.endedAt, 'bulk', 'abuse'],
        [echoed!.id, ECHO_END.endedAt, 'bulk', 'abuse'],
      ].sort(),
    );
    assert.equal((await store.sessions.findById(byClient!.id))?.endCause, 'CLIENT_DISCONNECT');
    assert.equal((await store.sessions.findById(byAdmin!.id))?.endedByName, 'ops');
    assert.deepEqual(await store.sessions.markEndedMany(all, { ...end, endedByName: 'late' }, { claimEcho: true }), []);
  });

  test('markEndedWithStats: each online row its own time and counters, an unclaimed echo claimed (keeps its time), other ends stay, once', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = Array.from({ length: 7 }, (_, i) => makeSession(gw, { ref: `w:${i}`, bytesReceived: 1 }));
    await store.sessions.insertManyIfAbsent(sessions);
    const [echoed, byClient, byAdmin, ...online] = sessions;
    assert.ok(await store.sessions.markEnded(echoed!.id, ECHO_END));
    assert.ok(await store.sessions.markEnded(byClient!.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' }));
    assert.ok(await store.sessions.markEnded(byAdmin!.id, ADMIN_END));
    const ends = sessions.map((s, i) => ({
      id: s.id,
      endedAt: T0 + 80_000 + i,
      // Past 2^32: the counters travel as bigint on PostgreSQL.
      finalStats: { bytesReceived: 5_000_000_000 + i, bytesSent: 100 + i, lastSeenAt: T0 + 79_000 + i },
    }));
    const { endedAt: _e, ...end } = { ...ADMIN_END, endedByName: 'bulk' };
    assert.deepEqual(await store.sessions.markEndedWithStats([ends[0]!], end), [], 'without claimEcho an echo stays');
    const got = await store.sessions.markEndedWithStats(ends, end, { claimEcho: true });
    const expected = [echoed!, ...online].map((s) => {
      const e = ends.find((x) => x.id === s.id)!;
      return {
        ...s,
        endedAt: s === echoed ? ECHO_END.endedAt : e.endedAt,
        endCause: 'ADMIN_DISCONNECT',
        endedByTokenId: ADMIN_END.endedByTokenId,
        endedByName: 'bulk',
        endReason: 'abuse',
        bytesReceived: e.finalStats.bytesReceived,
        bytesSent: e.finalStats.bytesSent,
        lastSeenAt: e.finalStats.lastSeenAt,
      };
    });
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    assert.deepEqual([...got].sort(byId), expected.sort(byId));
    assert.deepEqual(
      [...(await Promise.all(expected.map((s) => store.sessions.findById(s.id))))].sort((a, b) => byId(a!, b!)),
      expected,
      'as returned, so stored',
    );
    assert.equal((await store.sessions.findById(byClient!.id))?.endCause, 'CLIENT_DISCONNECT');
    assert.equal((await store.sessions.findById(byAdmin!.id))?.endedByName, 'ops');
    assert.deepEqual(
      await store.sessions.markEndedWithStats(ends, { ...end, endedByName: 'late' }, { claimEcho: true }),
      [],
    );
    assert.deepEqual(await store.sessions.markEndedWithStats([], end), []);
  });

  test('markEndedWithStats: concurrent callers over more rows than one statement split them, each ended once', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = Array.from({ length: 1_203 }, (_, i) => makeSession(gw, { ref: `m:${i}` }));
    await store.sessions.insertManyIfAbsent(sessions);
    const ends = sessions.map((s, i) => ({
      id: s.id,
      endedAt: T0 + 90_000 + i,
      finalStats: { bytesReceived: i, bytesSent: 2 * i, lastSeenAt: T0 + 89_000 + i },
    }));
    const end = { cause: 'CLIENT_DISCONNECT' } as const;
    const results = await Promise.all(
      [0, 1, 2].map((k) =>
        store.transaction((tx) => tx.sessions.markEndedWithStats(k === 1 ? [...ends].reverse() : ends, end)),
      ),
    );
    assert.equal(
      results.reduce((n, r) => n + r.length, 0),
      sessions.length,
    );
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 0);
    const last = await store.sessions.findById(sessions[1_202]!.id);
    assert.deepEqual(
      [last?.endedAt, last?.bytesReceived, last?.bytesSent, last?.lastSeenAt],
      [T0 + 91_202, 1_202, 2_404, T0 + 90_202],
    );
  });

  test('claimEcho on an online session ends it like a plain markEnded', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const s = makeSession(gw);
    await store.sessions.insertIfAbsent(s);
    assert.ok(await store.sessions.markEnded(s.id, ADMIN_END, { claimEcho: true }));
    const ended = await store.sessions.findById(s.id);
    assert.equal(ended?.endedAt, ADMIN_END.endedAt);
    assert.equal(ended?.endedByName, 'ops');
  });

  test('listOnlineByGateway returns every online session of that gateway only', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const mine = [
      makeSession(gw, { connectedAt: T0 + 1 }),
      makeSession(gw, { connectedAt: T0 + 2 }),
      makeSession(gw, { connectedAt: T0 + 3 }),
    ];
    for (const s of [...mine, makeSession(other)]) await store.sessions.insertIfAbsent(s);
    await store.sessions.markEnded(mine[0]!.id, { endedAt: T0 + 10, cause: 'CLIENT_DISCONNECT' });
    assert.deepEqual(new Set(ids(await store.sessions.listOnlineByGateway(gw))), new Set([mine[1]!.id, mine[2]!.id]));
  });

  test('insertManyIfAbsent writes the absent rows (more than one statement holds) and names only those', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const taken = makeSession(gw);
    const ended = makeSession(gw);
    await store.sessions.insertIfAbsent(taken);
    await store.sessions.insertIfAbsent(ended);
    await store.sessions.markEnded(ended.id, { endedAt: T0 + 5, cause: 'CLIENT_DISCONNECT' });
    // 2,000 rows of 22 columns exceed one statement's parameters on either database.
    const fresh = Array.from({ length: 2_000 }, (_, i) =>
      makeSession(gw, { ref: `bulk:${i}`, bytesReceived: 5_000_000_000 + i }),
    );
    // A late report of the ended connection (same user, same start): not a new session.
    const clashes = [
      makeSession(gw, { ref: taken.ref }),
      makeSession(gw, { ref: ended.ref, userName: ended.userName, connectedAt: ended.connectedAt }),
    ];
    const inserted = await store.sessions.insertManyIfAbsent([...clashes, ...fresh]);
    assert.deepEqual(inserted, new Set(ids(fresh)));
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 2_001);
    assert.deepEqual(await store.sessions.findById(fresh[1_999]!.id), fresh[1_999]);
    assert.equal((await store.sessions.findByRef(gw, ended.ref))?.id, ended.id, 'an ended ref is not revived');
    assert.deepEqual(await store.sessions.insertManyIfAbsent([]), new Set());
    assert.deepEqual(await store.sessions.insertManyIfAbsent(fresh.map((s) => ({ ...s, id: `${s.id}x` }))), new Set());
  });

  test('an ended session gives its ref to a later connection (a daemon restarted within the same second), never to a late report of itself', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const old = makeSession(gw, { connectedAt: T0 });
    await store.sessions.insertIfAbsent(old);
    await store.sessions.markEnded(old.id, { endedAt: T0 + 500, cause: 'GATEWAY_RESTART' });
    const late = makeSession(gw, { ref: old.ref, userName: old.userName, connectedAt: old.connectedAt });
    assert.deepEqual(await store.sessions.insertManyIfAbsent([late]), new Set());
    assert.equal(await store.sessions.insertIfAbsent(late), false);
    assert.equal((await store.sessions.findByRef(gw, old.ref))?.id, old.id);

    // The same user's client, reconnected to the new daemon one second later under the same Client ID.
    const again = makeSession(gw, { ref: old.ref, userName: old.userName, connectedAt: T0 + 1_000 });
    assert.deepEqual(await store.sessions.insertManyIfAbsent([again]), new Set([again.id]));
    assert.deepEqual(await store.sessions.findByRef(gw, old.ref), again);
    const retired = await store.sessions.findById(old.id);
    assert.deepEqual(retired, { ...old, ref: `${old.ref}~${old.id}`, endedAt: T0 + 500, endCause: 'GATEWAY_RESTART' });
    // An online holder never gives way.
    const rival = makeSession(gw, { ref: old.ref, connectedAt: T0 + 2_000 });
    assert.deepEqual(await store.sessions.insertManyIfAbsent([rival]), new Set());
    assert.equal(await store.sessions.insertIfAbsent(rival), false);
    assert.deepEqual(await store.sessions.findByRef(gw, old.ref), again);

    // Another user in the same second: a different connection, so the ended one gives way too.
    await store.sessions.markEnded(again.id, { endedAt: T0 + 1_500, cause: 'GATEWAY_RESTART' });
    const other = makeSession(gw, { ref: old.ref, connectedAt: T0 + 1_000 });
    assert.equal(await store.sessions.insertIfAbsent(other), true);
    assert.equal((await store.sessions.findByRef(gw, old.ref))?.id, other.id);
    assert.equal((await store.sessions.findById(again.id))?.ref, `${old.ref}~${again.id}`);
  });

  test('insertManyIfAbsent: of 4 concurrent callers with the same refs, each row goes to exactly one', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const refs = Array.from({ length: 300 }, (_, i) => `race:${i}`);
    // Each caller lists the refs in another order; the store must not deadlock.
    const orders = [refs, [...refs].reverse(), refs.map((_, i) => refs[(i * 7) % refs.length]!), refs];
    const callers = orders.map((order) => order.map((ref) => makeSession(gw, { ref })));
    const results = await Promise.all(
      callers.map((rows) => store.transaction((tx) => tx.sessions.insertManyIfAbsent(rows))),
    );
    assert.equal(
      results.reduce((n, r) => n + r.size, 0),
      refs.length,
    );
    const stored = new Set(ids(await store.sessions.listOnlineByGateway(gw)));
    assert.deepEqual(stored, new Set(results.flatMap((r) => [...r])));
  });

  test("listOnlineStatsByGateway and updateStatsMany: counters and last-seen of the gateway's online sessions only", async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const other = await freshGateway(store);
    const sessions = Array.from({ length: 9_000 }, (_, i) => makeSession(gw, { ref: `s:${i}` }));
    const elsewhere = makeSession(other);
    await store.sessions.insertManyIfAbsent([...sessions, elsewhere]);
    await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 5, cause: 'CLIENT_DISCONNECT' });
    // PostgreSQL: the page each row version is in (sessions leave room for a refresh: fillfactor 60).
    const pages = async () =>
      store.dialect !== 'postgres'
        ? new Map<string, string>()
        : new Map(
            (
              await sql<{ id: string; page: string }>`select id, (ctid::text::point)[0]::text as page from sessions
                where gateway_id = ${gw}`.execute(kysely(store).db)
            ).rows.map((r) => [r.id, r.page]),
          );
    const before = await pages();
    // 9,000 rows of 4 parameters: more than one statement. A row of another gateway is not the gateway's to refresh.
    await store.sessions.updateStatsMany(gw, [
      ...sessions.map((s, i) => ({
        id: s.id,
        bytesReceived: 4_294_967_296 + i,
        bytesSent: i,
        lastSeenAt: T0 + 30_000 + i,
      })),
      { id: elsewhere.id, bytesReceived: 7, bytesSent: 7, lastSeenAt: T0 + 30_000 },
    ]);
    const stats = await store.sessions.listOnlineStatsByGateway(gw);
    assert.equal(stats.length, 8_999);
    const byId = new Map(stats.map((s) => [s.id, s]));
    assert.deepEqual(byId.get(sessions[8_999]!.id), {
      id: sessions[8_999]!.id,
      ref: 's:8999',
      bytesReceived: 4_294_967_296 + 8_999,
      bytesSent: 8_999,
      lastSeenAt: T0 + 30_000 + 8_999,
      clientAddress: sessions[8_999]!.clientAddress,
      transport: null,
    });
    assert.equal(
      (await store.sessions.findById(sessions[0]!.id))?.bytesReceived,
      0,
      'an ended session keeps its counters',
    );
    assert.deepEqual(
      await store.sessions.findById(elsewhere.id),
      elsewhere,
      "another gateway's session is left as it was",
    );
    await store.sessions.updateStatsMany(gw, []);
    if (store.dialect === 'postgres') {
      // Most refreshed rows stayed in their page (HOT updates: no index entry added; at the default
      // fillfactor of 100 almost none do).
      const after = await pages();
      const stayed = [...after].filter(([id, page]) => before.get(id) === page).length;
      assert.ok(stayed > after.size / 2, `${stayed} of ${after.size} refreshed rows stayed in their page`);
      // The same refresh again (another replica applying the same snapshot) writes no new row version.
      const version = async () =>
        (
          await sql<{ v: string }>`select xmin::text as v from sessions where id = ${sessions[1]!.id}`.execute(
            kysely(store).db,
          )
        ).rows[0]!.v;
      const unchanged = await version();
      await store.sessions.updateStatsMany(gw, [
        { id: sessions[1]!.id, bytesReceived: 4_294_967_297, bytesSent: 1, lastSeenAt: T0 + 30_001 },
      ]);
      assert.equal(await version(), unchanged, 'an identical refresh leaves the row as it is');
      await store.sessions.updateStatsMany(gw, [
        { id: sessions[1]!.id, bytesReceived: 4_294_967_297, bytesSent: 1, lastSeenAt: T0 + 30_002 },
      ]);
      assert.notEqual(await version(), unchanged, 'a newer last-seen is written');
    }
  });

  test("updateAddresses: a floated client's new address, and its IP for the clientIp filter; ended sessions keep theirs", async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const [moving, ended] = [
      makeSession(gw, { clientAddress: '203.0.113.5:4000' }),
      makeSession(gw, { clientAddress: '203.0.113.6:4000' }),
    ];
    await store.sessions.insertManyIfAbsent([moving!, ended!]);
    await store.sessions.markEnded(ended!.id, { endedAt: T0 + 5, cause: 'CLIENT_DISCONNECT' });
    await store.sessions.updateAddresses([
      { id: moving!.id, clientAddress: '198.51.100.9:5000' },
      { id: ended!.id, clientAddress: '198.51.100.10:5000' },
    ]);
    assert.equal((await store.sessions.findById(moving!.id))?.clientAddress, '198.51.100.9:5000');
    assert.deepEqual(
      (await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw, clientIp: '198.51.100.9' } })).rows.map(
        (s) => s.id,
      ),
      [moving!.id],
    );
    assert.deepEqual(
      (await store.sessions.listOnline({ first: 10, filter: { gatewayId: gw, clientIp: '203.0.113.5' } })).rows,
      [],
    );
    assert.equal((await store.sessions.findById(ended!.id))?.clientAddress, '203.0.113.6:4000');
    await store.sessions.updateAddresses([]);
  });

  test('fillTransports: sets a transport learnt later on online sessions without one; a known one and an ended session keep theirs', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const [udp, tcp, known, ended] = [
      makeSession(gw),
      makeSession(gw),
      makeSession(gw, { transport: 'TCP' }),
      makeSession(gw),
    ];
    await store.sessions.insertManyIfAbsent([udp!, tcp!, known!, ended!]);
    await store.sessions.markEnded(ended!.id, { endedAt: T0 + 5, cause: 'CLIENT_DISCONNECT' });
    await store.sessions.fillTransports([
      { id: udp!.id, transport: 'UDP' },
      { id: tcp!.id, transport: 'TCP' },
      { id: known!.id, transport: 'UDP' },
      { id: ended!.id, transport: 'UDP' },
    ]);
    const transportOf = async (id: string) => (await store.sessions.findById(id))?.transport;
    assert.equal(await transportOf(udp!.id), 'UDP');
    assert.equal(await transportOf(tcp!.id), 'TCP');
    assert.equal(await transportOf(known!.id), 'TCP', 'a known transport is never changed');
    assert.equal(await transportOf(ended!.id), null, 'an ended session is history');
    const stats = new Map((await store.sessions.listOnlineStatsByGateway(gw)).map((s) => [s.id, s.transport]));
    assert.deepEqual(
      [stats.get(udp!.id), stats.get(known!.id)],
      ['UDP', 'TCP'],
      'the stats a snapshot compares carry it',
    );
    await store.sessions.fillTransports([]);
  });

  test('markEndedMany ends the online ones once and returns them as ended; concurrent callers split the rows', async () => {
    const store = ctx.store();
    const gw = await freshGateway(store);
    const sessions = Array.from({ length: 40 }, (_, i) => makeSession(gw, { ref: `e:${i}` }));
    await store.sessions.insertManyIfAbsent(sessions);
    assert.ok(await store.sessions.markEnded(sessions[0]!.id, ADMIN_END));
    const end: SessionEnd = { endedAt: T0 + 70_000, cause: 'GATEWAY_RESTART' };
    const first = await store.sessions.markEndedMany(ids(sessions.slice(0, 10)), end);
    assert.deepEqual(new Set(ids(first)), new Set(ids(sessions.slice(1, 10))));
    assert.deepEqual(
      first.find((s) => s.id === sessions[1]!.id),
      { ...sessions[1]!, endedAt: end.endedAt, endCause: 'GATEWAY_RESTART' },
    );
    assert.equal(
      (await store.sessions.findById(sessions[0]!.id))?.endCause,
      'ADMIN_DISCONNECT',
      'an ended session keeps its end',
    );
    const rest = ids(sessions.slice(10));
    const results = await Promise.all(
      [0, 1, 2].map((k) =>
        store.transaction((tx) => tx.sessions.markEndedMany(k === 1 ? [...rest].reverse() : rest, end)),
      ),
    );
    assert.equal(
      results.reduce((n, r) => n + r.length, 0),
      30,
    );
    assert.deepEqual(new Set(results.flatMap(ids)), new Set(rest));
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 0);
    assert.deepEqual(await store.sessions.markEndedMany([], end), []);
  });
}
