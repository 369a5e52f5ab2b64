/**
 * Several control-plane replicas applying the same reports to one PostgreSQL database: each change
 * lands once and is announced once, and a replica that lags behind cannot undo a newer report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason } from '../../../test/support/postgres.js';
import { twoReplicaStores, type ReplicaStores } from '../../../test/support/replica-stores.js';
import { FakeAdapter } from '../../../test/support/fake-adapter.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { subjects } from '../../bus/bus.js';
import type { SessionReport } from '../../domain/session.js';
import { AgentLink } from '../agent-link.js';
import { silentLogger } from '../../domain/logger.js';
import type { GatewayReport } from '../reports.js';
import type { SessionEvent } from '../session-events.js';
import { SessionSync } from './session-sync.js';
import { EventRelay } from '../event-relay.js';

const skip = await postgresSkipReason();

describe('session sync with two replicas on one PostgreSQL database', { skip }, () => {
  let replicas: ReplicaStores;
  const bus = new MemoryBus();
  const events: SessionEvent[] = [];

  before(async () => {
    replicas = await twoReplicaStores();
    bus.subscribe(subjects.sessionEvents, (e) => void events.push(e as SessionEvent));
  });
  /** Publishes what either replica committed (one outbox, one relay is enough), then lets the bus deliver. */
  const published = async () => {
    await new EventRelay({ store: replicas.b, bus, logger: silentLogger }).drain();
    await new Promise((r) => setImmediate(r));
  };
  after(async () => {
    await bus.close();
    await replicas?.close();
  });

  test('both replicas apply every report; each session is stored once and announced once', async () => {
    const syncA = new SessionSync({ store: replicas.a, bus, logger: silentLogger });
    const syncB = new SessionSync({ store: replicas.b, bus, logger: silentLogger });
    syncA.start();
    syncB.start();
    const gw = new FakeAdapter({ id: 'gw-rep' });
    const agent = new AgentLink({ bus, adapters: [gw], logger: silentLogger, heartbeatMs: 60_000 });
    agent.start();
    const refs: string[] = [];
    for (let i = 0; i < 20; i++) {
      refs.push(gw.connect(`user${i}`).ref);
      if (i % 5 === 0) await gw.snapshot(); // snapshots racing deltas on both replicas
    }
    for (const ref of refs.slice(0, 5)) gw.quit(ref);
    await gw.snapshot();
    await new Promise((r) => setImmediate(r));
    await Promise.all([syncA.idle(), syncB.idle()]);
    await agent.stop();
    syncA.stop();
    syncB.stop();

    const online = await replicas.a.sessions.listOnlineByGateway('gw-rep');
    assert.deepEqual(new Set(online.map((s) => s.ref)), new Set(refs.slice(5)));
    for (const ref of refs) assert.ok(await replicas.b.sessions.findByRef('gw-rep', ref), `${ref} stored`);
    await published();
    const connected = events.filter((e) => e.type === 'session.connected' && e.session.gatewayId === 'gw-rep');
    const ended = events.filter((e) => e.type === 'session.disconnected' && e.session.gatewayId === 'gw-rep');
    assert.equal(connected.length, 20, 'one session.connected per session, not one per replica');
    assert.equal(new Set(connected.map((e) => e.session.ref)).size, 20);
    assert.equal(ended.length, 5, 'one session.disconnected per ended session');
  });

  test("an agent's reload removing a gateway: both replicas apply it, its sessions end once as GATEWAY_REMOVED, one audit row", async () => {
    const syncA = new SessionSync({ store: replicas.a, bus, logger: silentLogger });
    const syncB = new SessionSync({ store: replicas.b, bus, logger: silentLogger });
    syncA.start();
    syncB.start();
    const gw = new FakeAdapter({ id: 'gw-rl' });
    const agent = new AgentLink({ bus, adapters: [gw], logger: silentLogger, heartbeatMs: 60_000 });
    agent.start();
    gw.connect('ann');
    gw.connect('ben');
    await gw.snapshot();
    await new Promise((r) => setImmediate(r));
    await Promise.all([syncA.idle(), syncB.idle()]);
    assert.equal((await replicas.a.sessions.listOnlineByGateway('gw-rl')).length, 2);

    await agent.remove('gw-rl');
    agent.reloaded('gw-rl', 'removed');
    await new Promise((r) => setImmediate(r));
    await Promise.all([syncA.idle(), syncB.idle()]);
    await agent.stop();
    syncA.stop();
    syncB.stop();

    assert.deepEqual(await replicas.a.sessions.listOnlineByGateway('gw-rl'), []);
    const rows = (
      await replicas.b.audit.list({ first: 10, filter: { action: 'gateway.reload', targetGatewayId: 'gw-rl' } })
    ).rows;
    assert.equal(rows.length, 1, 'one audit row, not one per replica');
    assert.equal(rows[0]!.outcome, 'SUCCESS');
    assert.deepEqual(rows[0]!.metadata, { agentId: agent.agentId, added: [], removed: ['gw-rl'], changed: [] });
    await published();
    const ended = events.filter((e) => e.type === 'session.disconnected' && e.session.gatewayId === 'gw-rl');
    assert.deepEqual(
      ended.map((e) => e.cause),
      ['GATEWAY_REMOVED', 'GATEWAY_REMOVED'],
      'each session announced ended once',
    );
  });

  test('the replica that applies a snapshot second writes nothing for it: the first one applied it', async () => {
    const t = Date.now();
    const syncA = new SessionSync({ store: replicas.a, bus, logger: silentLogger, now: () => t + 10 });
    const syncB = new SessionSync({ store: replicas.b, bus, logger: silentLogger, now: () => t + 20 });
    const gateway = { name: 'Twice', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
    const session = (ref: string, bytes: number): SessionReport => ({
      ref,
      userName: ref,
      commonName: ref,
      clientAddress: '127.0.0.1:5000',
      virtualAddress: '10.9.0.3',
      virtualAddress6: null,
      connectedAt: t,
      bytesReceived: bytes,
      bytesSent: bytes,
      clientVersion: null,
      clientPlatform: null,
    });
    const snapshot = (seq: number, at: number, sessions: SessionReport[]): GatewayReport => ({
      gatewayId: 'gw-twice',
      agentId: 'agt_twice',
      seq,
      type: 'snapshot',
      at,
      gateway,
      daemonStartedAt: t,
      sessions,
    });
    const first = snapshot(1, t + 1, [session('tw:1', 5), session('tw:2', 5)]);
    await syncA.enqueue(first);
    // B's clock is later: had it applied the snapshot again, the gateway's last-seen time would be B's.
    await syncB.enqueue(first);
    assert.equal((await replicas.a.gateways.findById('gw-twice'))?.lastSeenAt, t + 10, 'status as A wrote it');
    // The next snapshot (counters moved, one session gone) is applied by whichever replica comes first.
    const second = snapshot(2, t + 2, [session('tw:1', 9)]);
    await syncB.enqueue(second);
    await syncA.enqueue(second);
    assert.equal((await replicas.a.gateways.findById('gw-twice'))?.lastSeenAt, t + 20, 'status as B wrote it');
    assert.equal((await replicas.a.sessions.findByRef('gw-twice', 'tw:1'))?.bytesReceived, 9);
    assert.equal((await replicas.a.sessions.findByRef('gw-twice', 'tw:2'))?.endCause, 'CLIENT_DISCONNECT');
    await published();
    const mine = events.filter((e) => e.session.gatewayId === 'gw-twice');
    assert.deepEqual(
      mine.map((e) => `${e.type} ${e.session.ref}`).sort(),
      ['session.connected tw:1', 'session.connected tw:2', 'session.disconnected tw:2'],
      'each change announced once',
    );
  });

  test('a lagging replica applying an older snapshot does not end a session a newer report created', async () => {
    const syncA = new SessionSync({ store: replicas.a, bus, logger: silentLogger });
    const syncB = new SessionSync({ store: replicas.b, bus, logger: silentLogger });
    const gateway = { name: 'Lag', region: 'test', protocol: 'openvpn' as const, mode: 'observe' as const };
    const base = { gatewayId: 'gw-lag', agentId: 'agt_test', seq: 0 };
    const t = Date.now();
    const session: SessionReport = {
      ref: 'lag:1',
      userName: 'late',
      commonName: 'late',
      clientAddress: '127.0.0.1:5000',
      virtualAddress: '10.9.0.2',
      virtualAddress6: null,
      connectedAt: t + 2,
      bytesReceived: 0,
      bytesSent: 0,
      clientVersion: null,
      clientPlatform: null,
    };
    const older: GatewayReport = { ...base, type: 'snapshot', at: t + 1, gateway, daemonStartedAt: t, sessions: [] };
    const connected: GatewayReport = { ...base, type: 'session.connected', at: t + 2, session };
    const newer: GatewayReport = { ...base, type: 'snapshot', at: t + 3, gateway, daemonStartedAt: t, sessions: [] };

    await syncA.enqueue(older);
    await syncA.enqueue(connected); // replica A is ahead
    await syncB.enqueue(older); // replica B is still applying the older snapshot
    assert.equal(
      (await replicas.a.sessions.findByRef('gw-lag', 'lag:1'))?.endedAt,
      null,
      'the older snapshot cannot speak for it',
    );
    await syncB.enqueue(connected);
    await syncA.enqueue(newer);
    await syncB.enqueue(newer);
    const ended = await replicas.a.sessions.findByRef('gw-lag', 'lag:1');
    assert.equal(ended?.endCause, 'CLIENT_DISCONNECT', 'the newer snapshot lacks it: ended');
    await published();
    assert.equal(events.filter((e) => e.type === 'session.disconnected' && e.session.ref === 'lag:1').length, 1);
  });
});
