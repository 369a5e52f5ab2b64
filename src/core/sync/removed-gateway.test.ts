/**
 * A gateway a reload of the control plane's gateway file removed, while an agent still serves it:
 * every report of that agent is ignored (heartbeats, a daemon not responding, snapshots whole and in
 * parts, deltas), logged once; a session a racing report left online ends at its next snapshot; a
 * reload that lists the gateway again brings it back. On SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { captureLogger } from '../../../test/support/nats-server.js';
import { FakeAdapter } from '../../../test/support/fake-adapter.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { SYSTEM_ACTOR } from '../../domain/actor.js';
import type { SessionReport } from '../../domain/session.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import { recordReload } from '../gateway-reload.js';
import type { GatewayReport } from '../reports.js';
import { SessionSync } from './session-sync.js';
import { newSession } from './session-rows.js';

const pgSkip = await postgresSkipReason();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`reports of a gateway a reload removed, on ${dialect}`, { skip: dialect === 'postgres' && pgSkip }, () => {
    let store: Store;
    let drop: (() => Promise<void>) | undefined;
    const bus = new MemoryBus();
    const log = captureLogger();
    let sync: SessionSync;
    const fake = new FakeAdapter({ id: 'gw-removed' });
    const id = fake.config.id;
    let seq = 0;
    const descriptor = {
      name: id,
      region: 'test',
      protocol: 'openvpn',
      mode: 'authorize',
      canBlock: false,
      warning: null,
    } as const;
    const report = <T extends GatewayReport['type']>(
      body: Omit<Extract<GatewayReport, { type: T }>, 'gatewayId' | 'agentId' | 'seq' | 'at'>,
    ) =>
      ({
        ...body,
        gatewayId: id,
        agentId: 'agt_removedtest',
        seq: ++seq,
        at: Date.now() + seq,
      }) as unknown as GatewayReport;
    const beat = (daemonResponding = true) =>
      report<'heartbeat'>({ type: 'heartbeat', gateway: descriptor, linkUp: true, daemonResponding });
    const snapshot = (sessions: SessionReport[], part?: { id: string; index: number; count: number }) =>
      report<'snapshot'>({
        type: 'snapshot',
        gateway: descriptor,
        daemonStartedAt: 1,
        sessions,
        ...(part ? { part } : {}),
      });
    const apply = async (...reports: GatewayReport[]) => {
      for (const r of reports) void sync.enqueue(r);
      await sync.idle();
    };
    const gateway = () => store.gateways.findById(id);
    const listed = async () => (await store.gateways.list()).some((g) => g.id === id);
    const online = () => store.sessions.countOnline({ gatewayId: id });
    const ignoredLines = () => log.lines.filter((l) => l.includes("its agent's reports are ignored")).length;

    before(async () => {
      let url = join(mkdtempSync(join(tmpdir(), 'sb-removed-gw-')), 'core.db');
      if (dialect === 'postgres') {
        const fresh = await createFreshPostgresDatabase();
        url = fresh.url;
        drop = fresh.drop;
      }
      store = await openStore(url);
      sync = new SessionSync({ store, bus, logger: log.logger });
    });
    after(async () => {
      await store?.close();
      await drop?.();
      await bus.close();
    });
    const deps = () => ({ store, now: Date.now });

    test("removed: its agent's reports change nothing, logged once; listed again: it comes back", async () => {
      await recordReload(deps(), SYSTEM_ACTOR, { added: [fake.config], removed: [], changed: [] });
      const alice = fake.connect('alice');
      await apply(beat(), snapshot([alice]));
      assert.equal((await gateway())?.agentConnected, true);
      assert.equal(await online(), 1);

      await recordReload(deps(), SYSTEM_ACTOR, { added: [], removed: [id], changed: [] });
      assert.equal((await store.sessions.findByRef(id, alice.ref))?.endCause, 'GATEWAY_REMOVED');
      const bob = fake.connect('bob');
      const carol = fake.connect('carol');
      const dave = fake.connect('dave');
      await apply(
        beat(),
        beat(false),
        snapshot([alice, bob]),
        report<'session.connected'>({ type: 'session.connected', session: carol }),
        snapshot([dave], { id: 'snp_parts', index: 0, count: 2 }),
        snapshot([carol], { id: 'snp_parts', index: 1, count: 2 }),
        beat(),
      );
      const g = await gateway();
      assert.equal(g?.agentConnected, false, 'heartbeats did not show it connected again');
      assert.notEqual(g?.removedAt, null);
      assert.equal(await listed(), false, 'not listed');
      assert.equal(await online(), 0, 'no snapshot or delta created a session');
      assert.equal((await store.sessions.findByRef(id, alice.ref))?.endCause, 'GATEWAY_REMOVED', 'alice stays ended');
      assert.equal(ignoredLines(), 1, 'logged once');
      assert.ok(!log.lines.some((l) => l.includes('out of order')), 'the ignored parts are not taken for lost ones');

      // A session a racing report created while the removal was recorded: its next snapshot ends it.
      const stray = fake.connect('stray');
      await store.sessions.insertIfAbsent(newSession(id, stray, Date.now(), 'openvpn'));
      await apply(snapshot([stray]));
      assert.equal((await store.sessions.findByRef(id, stray.ref))?.endCause, 'GATEWAY_REMOVED');
      assert.equal(await online(), 0);

      await recordReload(deps(), SYSTEM_ACTOR, { added: [fake.config], removed: [], changed: [] });
      assert.equal(await listed(), true, 'listed again');
      const erin = fake.connect('erin');
      await apply(beat(), snapshot([erin]));
      assert.equal((await gateway())?.agentConnected, true, 'connected again');
      assert.equal((await gateway())?.removedAt, null);
      assert.equal((await store.sessions.findByRef(id, erin.ref))?.endedAt, null, 'its new session is online');
    });
  });
}
