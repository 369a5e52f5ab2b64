/**
 * Snapshots larger than one transaction: applied chunk by chunk, each session is still created,
 * refreshed or ended once and announced once (also with two replicas on PostgreSQL), and reads of
 * the store run between the chunks instead of waiting for the whole snapshot.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason } from '../../../test/support/postgres.js';
import { twoReplicaStores, type ReplicaStores } from '../../../test/support/replica-stores.js';
import { subjects } from '../../bus/bus.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import type { SessionReport } from '../../domain/session.js';
import { newIntentId } from '../../domain/disconnect-intent.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import { silentLogger } from '../../domain/logger.js';
import type { GatewayReport } from '../reports.js';
import { sessionReport } from './session-report.test-support.js';
import type { SessionEvent } from '../session-events.js';
import { EventRelay } from '../event-relay.js';
import { SessionSync } from './session-sync.js';

const gateway = { name: 'Chunks', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
const T = Date.now();
let seq = 0;

const session = (ref: string, bytes = 0): SessionReport => sessionReport(ref, T, bytes);

function snapshot(gatewayId: string, at: number, sessions: SessionReport[]): GatewayReport {
  return { type: 'snapshot', gatewayId, agentId: 'agt_test', seq: ++seq, at, gateway, daemonStartedAt: T, sessions };
}

function connected(gatewayId: string, at: number, s: SessionReport): GatewayReport {
  return { type: 'session.connected', gatewayId, agentId: 'agt_test', seq: ++seq, at, session: s };
}

const refs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}:${i}`);

/** Session events of one gateway, by type and ref, as the relay publishes them from `store`'s outbox. */
function recorder(bus: MemoryBus, store: Store, gatewayId: string) {
  const events: SessionEvent[] = [];
  bus.subscribe(subjects.sessionEvents, (e) => {
    if ((e as SessionEvent).session.gatewayId === gatewayId) events.push(e as SessionEvent);
  });
  const relay = new EventRelay({ store, bus, logger: silentLogger });
  const published = async () => {
    await relay.drain();
    await new Promise((r) => setImmediate(r));
  };
  const of = async (type: SessionEvent['type']) => {
    await published();
    return events.filter((e) => e.type === type).map((e) => e.session.ref);
  };
  return {
    events,
    published,
    connected: () => of('session.connected'),
    disconnected: () => of('session.disconnected'),
    /** Forgets what was published so far (after publishing what is committed). */
    clear: async () => {
      await published();
      events.length = 0;
    },
  };
}

const sorted = (xs: string[]) => [...xs].sort();

describe('session sync: a snapshot larger than one chunk (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sync-chunks-'));
  let store: Store;
  const bus = new MemoryBus();
  before(async () => {
    store = await openStore(`sqlite:${join(dir, 'sync.db')}`);
  });
  after(async () => {
    await bus.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('creates every new session once, keeps the known ones, ends exactly the stale ones; each announced once', async () => {
    const gw = 'gw-chunks';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    const rec = recorder(bus, store, gw);
    // Before: 1,500 sessions online (more than a chunk of stale ones), one more ended.
    const kept = refs('kept', 1_000);
    const stale = refs('stale', 1_500);
    await sync.enqueue(
      snapshot(
        gw,
        T + 1_000,
        [...kept, ...stale, 'gone'].map((ref) => session(ref)),
      ),
    );
    await sync.enqueue({
      type: 'session.disconnected',
      gatewayId: gw,
      agentId: 'agt_test',
      seq: ++seq,
      at: T + 1_500,
      ref: 'gone',
      cause: 'CLIENT_DISCONNECT',
    });
    assert.equal((await rec.connected()).length, 2_501);
    await rec.clear();

    const added = refs('new', 2_500);
    // Known sessions spread over the chunks, between new ones; the ended ref must not come back.
    const reports = [...added.slice(0, 1_200), ...kept, 'gone', ...added.slice(1_200)];
    await sync.enqueue(
      snapshot(
        gw,
        T + 2_000,
        reports.map((ref) => session(ref, ref.startsWith('kept') ? 7 : 0)),
      ),
    );

    assert.deepEqual(sorted(await rec.connected()), sorted(added), 'one session.connected per new session');
    assert.deepEqual(sorted(await rec.disconnected()), sorted(stale), 'one session.disconnected per stale session');
    const online = await store.sessions.listOnlineByGateway(gw);
    assert.deepEqual(sorted(online.map((s) => s.ref)), sorted([...kept, ...added]));
    assert.equal(online.find((s) => s.ref === 'kept:999')?.bytesReceived, 7, 'known sessions refreshed');
    assert.equal(online.find((s) => s.ref === 'kept:0')?.lastSeenAt, T + 2_000);
    assert.equal((await store.sessions.findByRef(gw, 'stale:1499'))?.endCause, 'CLIENT_DISCONNECT');
    assert.notEqual((await store.sessions.findByRef(gw, 'gone'))?.endedAt, null, 'an ended session never comes back');

    // The same snapshot again changes nothing and announces nothing.
    await rec.clear();
    await sync.enqueue(
      snapshot(
        gw,
        T + 3_000,
        reports.map((ref) => session(ref, ref.startsWith('kept') ? 7 : 0)),
      ),
    );
    await rec.published();
    assert.deepEqual(rec.events, []);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 3_500);
  });

  test('a snapshot rewrites idle sessions only once their last-seen is a minute old', async () => {
    const gw = 'gw-idle';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    await sync.enqueue(snapshot(gw, T, [session('idle'), session('busy')]));
    await sync.enqueue(snapshot(gw, T + 10_000, [session('idle'), session('busy', 99)]));
    const seen = async (ref: string) => (await store.sessions.findByRef(gw, ref))?.lastSeenAt;
    assert.equal(await seen('idle'), T, 'counters did not move: not rewritten');
    assert.equal(await seen('busy'), T + 10_000);
    await sync.enqueue(snapshot(gw, T + 60_000, [session('idle'), session('busy', 99)]));
    assert.equal(await seen('idle'), T + 60_000, 'a minute old: refreshed');
    assert.equal(await seen('busy'), T + 10_000);
  });

  test('reads of the store run between the chunks of a 5,000-session snapshot', async () => {
    const gw = 'gw-busy';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    let done = false;
    const applying = sync
      .enqueue(
        snapshot(
          gw,
          T,
          refs('r', 5_000).map((ref) => session(ref)),
        ),
      )
      .then(() => {
        done = true;
      });
    const seen: number[] = [];
    while (!done) {
      // Paced like requests from the network (SQLite queries never leave the microtask queue).
      await new Promise((resolve) => setTimeout(resolve, 1));
      const n = await store.sessions.countOnline({ gatewayId: gw });
      if (!done) seen.push(n);
    }
    await applying;
    assert.ok(
      seen.some((n) => n > 0 && n < 5_000),
      `a read saw the snapshot partly applied (saw ${[...new Set(seen)].join(', ')})`,
    );
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 5_000);
  });

  test('a burst of connects (one multi-row insert per run) creates each once, refreshes repeats, never revives', async () => {
    const gw = 'gw-burst';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    const rec = recorder(bus, store, gw);
    await sync.enqueue(snapshot(gw, T, [session('old')]));
    await sync.enqueue({
      type: 'session.disconnected',
      gatewayId: gw,
      agentId: 'agt_test',
      seq: ++seq,
      at: T + 1,
      ref: 'old',
      cause: 'CLIENT_DISCONNECT',
    });
    await rec.clear();
    const burst = refs('b', 1_200);
    // Enqueued in one tick: they wait together and are applied as runs of `connected` reports.
    const all = [
      ...burst.map((ref, i) => sync.enqueue(connected(gw, T + 10 + i, session(ref)))),
      sync.enqueue(connected(gw, T + 5_000, session('b:3', 42))),
      sync.enqueue(connected(gw, T + 5_001, session('old'))),
    ];
    await Promise.all(all);
    assert.deepEqual(sorted(await rec.connected()), sorted(burst));
    assert.equal((await store.sessions.findByRef(gw, 'b:3'))?.bytesReceived, 42, 'a repeated report refreshes');
    assert.notEqual((await store.sessions.findByRef(gw, 'old'))?.endedAt, null);
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 1_200);
  });

  test('a burst of disconnects shares transactions; each ends once and is announced once (an admin echo with no pending intent too)', async () => {
    const gw = 'gw-burst-end';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    const rec = recorder(bus, store, gw);
    const leaving = refs('d', 600);
    await sync.enqueue(
      snapshot(
        gw,
        T,
        [...leaving, 'stay'].map((ref) => session(ref)),
      ),
    );
    await rec.clear();
    let transactions = 0;
    const counting = Object.create(store, {
      transaction: { value: (fn: Parameters<Store['transaction']>[0]) => (transactions++, store.transaction(fn)) },
    }) as Store;
    const burstSync = new SessionSync({ store: counting, bus, logger: silentLogger });
    const end = (ref: string, i: number, cause: 'CLIENT_DISCONNECT' | 'ADMIN_DISCONNECT'): GatewayReport => ({
      type: 'session.disconnected',
      gatewayId: gw,
      agentId: 'agt_test',
      seq: ++seq,
      at: T + 10 + i,
      ref,
      cause,
      bytesReceived: 7,
      bytesSent: 8,
    });
    // Enqueued in one tick; the same ref twice (a repeated report) ends it once.
    await Promise.all([
      ...leaving.map((ref, i) => burstSync.enqueue(end(ref, i, i < 100 ? 'ADMIN_DISCONNECT' : 'CLIENT_DISCONNECT'))),
      burstSync.enqueue(end('d:500', 900, 'CLIENT_DISCONNECT')),
    ]);
    assert.ok(transactions <= 4, `600 disconnects in ${transactions} transactions`);
    // No intent is pending here (a kill from outside Switchboard): the echo is the only word of the end.
    assert.deepEqual(sorted(await rec.disconnected()), sorted(leaving), 'every end announced once');
    assert.equal(await store.sessions.countOnline({ gatewayId: gw }), 1);
    const ended = await store.sessions.findByRef(gw, 'd:500');
    assert.equal(ended?.endCause, 'CLIENT_DISCONNECT');
    assert.equal(ended?.bytesSent, 8);
    assert.equal((await store.sessions.findByRef(gw, 'd:5'))?.endCause, 'ADMIN_DISCONNECT');
    assert.equal((await store.sessions.findByRef(gw, 'stay'))?.endedAt, null);
  });

  test("a burst of echoes of operators' kills: each pending intent settles as its operator's, once, at its report's time with its counters", async () => {
    const gw = 'gw-burst-intents';
    const sync = new SessionSync({ store, bus, logger: silentLogger });
    const rec = recorder(bus, store, gw);
    const killed = refs('k', 40);
    const reasonOf = (ref: string) => (killed.indexOf(ref) % 8 === 0 ? `incident ${ref}` : 'incident');
    await sync.enqueue(
      snapshot(
        gw,
        T,
        killed.map((ref) => session(ref)),
      ),
    );
    await rec.clear();
    const intents = new Map<string, string>();
    for (const ref of killed) {
      const s = (await store.sessions.findByRef(gw, ref))!;
      const id = newIntentId();
      intents.set(ref, id);
      await store.intents.insertIfNoPending({
        id,
        sessionId: s.id,
        gatewayId: gw,
        userName: s.userName,
        createdAt: T + 1,
        actorTokenId: 'tok_ops',
        actorName: 'ops',
        actorIp: null,
        actorUserAgent: null,
        actorRequestId: null,
        // Most from one bulk call (their sessions end in shared statements), a few on their own.
        reason: reasonOf(ref),
        message: null,
        mode: 'HALT',
        blockSeconds: null,
        status: 'PENDING',
        unconfirmedAt: null,
        settledAt: null,
        auditEventId: `aud_pending_${ref}`,
        settledAuditEventId: null,
      });
    }
    // The replies never came (say the replica asking died): the daemon's echoes are the word of the ends.
    await Promise.all(
      killed.map((ref, i) =>
        sync.enqueue({
          type: 'session.disconnected',
          gatewayId: gw,
          agentId: 'agt_test',
          seq: ++seq,
          at: T + 10 + i,
          ref,
          cause: 'CLIENT_DISCONNECT',
          bytesReceived: 70 + i,
          bytesSent: 80 + i,
        }),
      ),
    );
    for (const [i, ref] of killed.entries()) {
      const ended = (await store.sessions.findByRef(gw, ref))!;
      assert.deepEqual(
        [ended.endCause, ended.endedByName, ended.endReason, ended.endedAt, ended.bytesReceived, ended.bytesSent],
        ['ADMIN_DISCONNECT', 'ops', reasonOf(ref), T + 10 + i, 70 + i, 80 + i],
        ref,
      );
      const intent = (await store.intents.findById(intents.get(ref)!))!;
      assert.equal(intent.status, 'DONE', ref);
      const audit = await store.audit.list({ first: 5, filter: { targetSessionId: ended.id } });
      assert.deepEqual(
        audit.rows.map((r) => [r.id, r.outcome, r.metadata.confirmedBy]),
        [[intent.settledAuditEventId, 'SUCCESS', 'DAEMON_REPORT']],
        ref,
      );
    }
    assert.deepEqual(sorted(await rec.disconnected()), sorted(killed), 'one event per end');
  });
});

const skip = await postgresSkipReason();

describe('session sync: two replicas apply the same big snapshot (PostgreSQL)', { skip }, () => {
  let replicas: ReplicaStores;
  const bus = new MemoryBus();
  before(async () => {
    replicas = await twoReplicaStores();
  });
  after(async () => {
    await bus.close();
    await replicas?.close();
  });

  test('each session is created once and announced once; the stale ones end once', async () => {
    const gw = 'gw-rep-big';
    const syncA = new SessionSync({ store: replicas.a, bus, logger: silentLogger });
    const syncB = new SessionSync({ store: replicas.b, bus, logger: silentLogger });
    const rec = recorder(bus, replicas.a, gw);
    const first = snapshot(
      gw,
      T,
      refs('a', 3_500).map((ref) => session(ref)),
    );
    await Promise.all([syncA.enqueue(first), syncB.enqueue(first)]);
    assert.deepEqual(
      sorted(await rec.connected()),
      sorted(refs('a', 3_500)),
      'one session.connected per session, not one per replica',
    );

    // Then: 1,500 of them gone, 2,500 new, the rest with moved counters; both replicas at once.
    await rec.clear();
    const second = snapshot(gw, T + 10_000, [
      ...refs('a', 3_500)
        .slice(1_500)
        .map((ref) => session(ref, 5)),
      ...refs('b', 2_500).map((ref) => session(ref)),
    ]);
    await Promise.all([syncA.enqueue(second), syncB.enqueue(second)]);
    assert.deepEqual(sorted(await rec.connected()), sorted(refs('b', 2_500)));
    assert.deepEqual(sorted(await rec.disconnected()), sorted(refs('a', 3_500).slice(0, 1_500)));
    const online = await replicas.a.sessions.listOnlineByGateway(gw);
    assert.equal(online.length, 4_500);
    assert.ok(
      online.filter((s) => s.ref.startsWith('a:')).every((s) => s.bytesReceived === 5 && s.lastSeenAt === T + 10_000),
    );
  });
});
