/**
 * Coalescing a gateway's queued reports: an older snapshot and repeated heartbeats are skipped, the
 * deltas keep their order, and the newer snapshot still ends what it lacks (SQLite and PostgreSQL).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { postgresSkipReason } from '../../../test/support/postgres.js';
import { twoReplicaStores, type ReplicaStores } from '../../../test/support/replica-stores.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import type { SessionReport } from '../../domain/session.js';
import { silentLogger } from '../../domain/logger.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import type { GatewayReport } from '../reports.js';
import { sessionReport } from './session-report.test-support.js';
import type { SessionEvent } from '../session-events.js';
import { coalesceReports } from './coalesce.js';
import { SessionSync } from './session-sync.js';

const gateway = { name: 'Coalesce', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
const T = Date.now();
const RUN = T - 3_600_000;
let seq = 0;
const envelope = (gatewayId: string, at: number) => ({ gatewayId, agentId: 'agt_test', seq: ++seq, at });

const session = (ref: string): SessionReport => sessionReport(ref, T);

const snapshot = (gw: string, at: number, refs: string[], daemonStartedAt: number | null = RUN): GatewayReport => ({
  type: 'snapshot',
  ...envelope(gw, at),
  gateway,
  daemonStartedAt,
  sessions: refs.map(session),
});
const heartbeat = (gw: string, at: number, daemonResponding = true): GatewayReport => ({
  type: 'heartbeat',
  ...envelope(gw, at),
  gateway,
  linkUp: true,
  daemonResponding,
});
const connected = (gw: string, at: number, ref: string): GatewayReport => ({
  type: 'session.connected',
  ...envelope(gw, at),
  session: session(ref),
});
const seqs = (reports: GatewayReport[]) => reports.map((r) => r.seq);

describe('coalesceReports', () => {
  test('an older whole snapshot is dropped for a newer one of the same daemon run; heartbeats between stay', () => {
    const batch = [snapshot('g', T, ['a']), heartbeat('g', T + 1), snapshot('g', T + 2, ['b'])];
    assert.deepEqual(seqs(coalesceReports(batch)), seqs(batch.slice(1)));
  });

  test('with a delta between, only when this replica applied a snapshot of that daemon run already', () => {
    const batch = [snapshot('g', T, ['a']), connected('g', T + 1, 'c'), snapshot('g', T + 2, ['a', 'c'])];
    assert.deepEqual(seqs(coalesceReports(batch)), seqs(batch), 'it may be the first word of a restart');
    assert.deepEqual(
      seqs(coalesceReports(batch, (gw, run) => gw === 'g' && run === RUN)),
      seqs(batch.slice(1)),
      'the delta stays, before the newer snapshot',
    );
  });

  test('kept: snapshots of different daemon runs, of an unknown run, and in parts', () => {
    const restart = [snapshot('g', T, ['a']), snapshot('g', T + 1, ['b'], RUN + 1)];
    assert.deepEqual(seqs(coalesceReports(restart, () => true)), seqs(restart));
    const unknown = [snapshot('g', T, ['a'], null), snapshot('g', T + 1, ['b'], null)];
    assert.deepEqual(seqs(coalesceReports(unknown, () => true)), seqs(unknown));
    const part = { ...snapshot('g', T + 1, ['b']), part: { id: 'snp_1', index: 0, count: 2 } } as GatewayReport;
    const parts = [snapshot('g', T, ['a']), part, snapshot('g', T + 2, ['c'])];
    assert.deepEqual(seqs(coalesceReports(parts, () => true)), seqs(parts), 'a snapshot in parts may never complete');
  });

  test('a heartbeat directly followed by one that says the same is dropped; a change of state is kept', () => {
    const batch = [
      heartbeat('g', T),
      heartbeat('g', T + 1),
      heartbeat('g', T + 2, false),
      heartbeat('g', T + 3),
      connected('g', T + 4, 'x'),
      heartbeat('g', T + 5),
    ];
    assert.deepEqual(seqs(coalesceReports(batch)), seqs(batch.slice(1)));
  });
});

/** A snapshot applied, then reports enqueued together: they reach `apply` as one batch (see ReportQueue). */
async function coalescedBatch(sync: SessionSync, gw: string): Promise<void> {
  await sync.enqueue(snapshot(gw, T, ['a', 'b']));
  const batch = [
    heartbeat(gw, T + 1_000),
    snapshot(gw, T + 2_000, ['a', 'b', 'c']),
    connected(gw, T + 2_500, 'd'),
    heartbeat(gw, T + 3_000),
    snapshot(gw, T + 4_000, ['a', 'd']),
  ].map((r) => sync.enqueue(r));
  await Promise.all(batch);
}

async function checkCoalesced(store: Store, gw: string): Promise<void> {
  const online = await store.sessions.listOnlineByGateway(gw);
  assert.deepEqual(online.map((s) => s.ref).sort(), ['a', 'd'], 'what the newest snapshot lists');
  const b = await store.sessions.findByRef(gw, 'b');
  assert.equal(b?.endCause, 'CLIENT_DISCONNECT', 'the newer snapshot ends a session it lacks');
  assert.equal(b?.endedAt, T + 4_000);
  assert.equal(await store.sessions.findByRef(gw, 'c'), null, 'only the skipped snapshot listed c');
}

describe('session sync coalesces a gateway’s queued snapshots (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sync-coalesce-'));
  let store: Store | undefined;
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the newest queued snapshot is applied, the deltas before it too', async () => {
    store = await openStore(`sqlite:${join(dir, 'sync.db')}`);
    const sync = new SessionSync({ store, bus: new MemoryBus(), logger: silentLogger });
    await coalescedBatch(sync, 'gw-co');
    await checkCoalesced(store, 'gw-co');
  });
});

const skip = await postgresSkipReason();

describe('session sync coalesces a gateway’s queued snapshots (PostgreSQL, two replicas)', { skip }, () => {
  let replicas: ReplicaStores | undefined;
  after(() => replicas?.close());

  test('both replicas coalesce; the store ends what the newest snapshot lacks, once', async () => {
    replicas = await twoReplicaStores();
    const bus = new MemoryBus();
    const a = new SessionSync({ store: replicas.a, bus, logger: silentLogger });
    const b = new SessionSync({ store: replicas.b, bus, logger: silentLogger });
    await Promise.all([coalescedBatch(a, 'gw-co-pg'), coalescedBatch(b, 'gw-co-pg')]);
    await checkCoalesced(replicas.a, 'gw-co-pg');
    const events = (await replicas.b.outbox.claim(Date.now(), Date.now() + 60_000, 1_000)).map(
      (e) => `${e.type} ${(JSON.parse(e.payload) as SessionEvent).session.ref}`,
    );
    assert.deepEqual(
      events.sort(),
      ['session.connected a', 'session.connected b', 'session.connected d', 'session.disconnected b'],
      'each change announced once, by one replica',
    );
  });
});
