/**
 * Heartbeats written now and then: a beat that changes nothing is skipped until this replica's last
 * write of its gateway is half the liveness bound old, a change is written at once, and a gateway
 * whose agent stops beating is shown not connected within the bound plus that lag, never while it
 * beats (SQLite, one replica; PostgreSQL, two replicas on one database).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { postgresSkipReason } from '../../../test/support/postgres.js';
import { twoReplicaStores, type ReplicaStores } from '../../../test/support/replica-stores.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { GATEWAY_PROBLEM, lastSeenLagMs } from '../../domain/gateway.js';
import { silentLogger } from '../../domain/logger.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import type { GatewayReport } from '../reports.js';
import { Switchboard } from '../switchboard.js';
import { SessionSync } from './session-sync.js';

const LIVENESS_MS = 15_000;
const LAG_MS = lastSeenLagMs(LIVENESS_MS);
const BEAT_MS = LIVENESS_MS / 3;
const gateway = { name: 'Beats', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
const T0 = Date.now();
const reader = { tokenId: 'tok_t', name: 't', scopes: ['sessions:read' as const], ip: '127.0.0.1', userAgent: 't' };
let seq = 0;

const beat = (gatewayId: string, at: number, more: { linkUp?: boolean; canBlock?: boolean } = {}): GatewayReport => ({
  type: 'heartbeat',
  gatewayId,
  agentId: 'agt_beats',
  seq: ++seq,
  at,
  gateway: { ...gateway, canBlock: more.canBlock ?? false, warning: null },
  linkUp: more.linkUp ?? true,
  daemonResponding: true,
});

/** Replicas (a sync and a core each) on the given stores, sharing one settable clock. */
function replicas(stores: Store[]) {
  const clock = { now: T0 };
  const now = () => clock.now;
  const bus = new MemoryBus();
  const each = stores.map((store) => ({
    store,
    sync: new SessionSync({ store, bus, logger: silentLogger, now, gatewayLivenessMs: LIVENESS_MS }),
    core: new Switchboard({
      store,
      bus,
      logger: silentLogger,
      now,
      disconnectDeadlineMs: 1000,
      gatewayLivenessMs: LIVENESS_MS,
    }),
  }));
  return {
    clock,
    /** Every replica applies the report at the clock's time, as each receives every report. */
    async hear(r: GatewayReport, at: number) {
      clock.now = at;
      for (const { sync } of each) await sync.enqueue(r);
    },
    stored: (id: string) => stores[0]!.gateways.findById(id),
    /** What each replica's API shows of the gateway at `at`. */
    async shown(id: string, at: number) {
      clock.now = at;
      return Promise.all(each.map(({ core }) => core.gateway(reader, id)));
    },
    close: () => bus.close(),
  };
}

function cases(open: () => Promise<Store[]>) {
  test('a beat that changes nothing waits for the lag; a change is written at once', async () => {
    const r = replicas(await open());
    const id = `gw-hb-${seq}`;
    await r.hear(beat(id, T0), T0);
    assert.equal((await r.stored(id))?.lastSeenAt, T0, 'the first beat is written');
    await r.hear(beat(id, T0 + BEAT_MS), T0 + BEAT_MS);
    assert.equal((await r.stored(id))?.lastSeenAt, T0, 'a beat younger than the lag changes nothing stored');
    await r.hear(beat(id, T0 + LAG_MS), T0 + LAG_MS);
    assert.equal((await r.stored(id))?.lastSeenAt, T0 + LAG_MS, 'written once the last write is the lag old');
    const t = T0 + LAG_MS + 100;
    await r.hear(beat(id, t, { canBlock: true }), t);
    const changed = await r.stored(id);
    assert.deepEqual([changed?.canBlock, changed?.lastSeenAt], [true, t], 'a capability change is written at once');
    await r.hear(beat(id, t + 100, { canBlock: true, linkUp: false }), t + 100);
    const down = await r.stored(id);
    assert.deepEqual([down?.agentConnected, down?.statusSince], [false, t + 100], 'link down is written at once');
    for (const g of await r.shown(id, t + 200)) assert.equal(g?.agentConnected, false);
    await r.hear(beat(id, t + 300, { canBlock: true }), t + 300);
    assert.equal((await r.stored(id))?.agentConnected, true, 'and back up at once');
    await r.close();
  });

  test('a beating agent is never shown silent; one that stops is shown so within the bound plus the lag', async () => {
    const r = replicas(await open());
    const id = `gw-hb-${seq}`;
    let last = T0;
    // The last beat is one this replica skips (its last write is a beat older).
    for (let at = T0; at <= T0 + 4 * LIVENESS_MS + BEAT_MS; at += BEAT_MS) {
      await r.hear(beat(id, at), at);
      last = at;
      // Just before the next beat, the longest the stored time lags.
      for (const g of await r.shown(id, at + BEAT_MS - 1)) assert.equal(g?.agentConnected, true, `connected at ${at - T0}`);
    }
    assert.equal((await r.stored(id))?.lastSeenAt, last - BEAT_MS, 'the last beat was not written');
    for (const g of await r.shown(id, last + LIVENESS_MS)) assert.equal(g?.agentConnected, true, 'heard within the bound');
    for (const g of await r.shown(id, last + LIVENESS_MS + LAG_MS + 1)) {
      assert.equal(g?.agentConnected, false, 'silent after the bound plus the lag at the latest');
      assert.equal(g?.lastError, GATEWAY_PROBLEM.notHeard);
    }
    await r.close();
  });
}

describe('heartbeat writes on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-beats-'));
  const stores: Store[] = [];
  after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  cases(async () => {
    const store = await openStore(join(dir, `beats-${stores.length}.db`));
    stores.push(store);
    return [store];
  });
});

describe('heartbeat writes on PostgreSQL, two replicas', { skip: await postgresSkipReason() }, () => {
  const dbs: ReplicaStores[] = [];
  after(async () => {
    for (const d of dbs) await d.close();
  });
  cases(async () => {
    const d = await twoReplicaStores();
    dbs.push(d);
    return [d.a, d.b];
  });
});
