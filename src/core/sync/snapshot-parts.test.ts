/**
 * Snapshots larger than one bus message: the agent sends them in parts, sync puts them together.
 * Over the real NATS (whose default limit is 1 MB a message) a 12,000-session gateway is listed
 * whole, and a later snapshot ends exactly the sessions it lacks; a lost part ends nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeAdapter } from '../../../test/support/fake-adapter.js';
import { waitFor } from '../../../test/support/wait.js';
import { subjects, type Bus } from '../../bus/bus.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { connectNatsBus } from '../../bus/nats/nats-bus.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from '../../../test/support/nats-server.js';
import { randomId } from '../../domain/ids.js';
import { openStore } from '../../store/kysely/kysely-store.js';
import type { Store } from '../../store/store.js';
import { AgentLink, SNAPSHOT_PART_SESSIONS } from '../agent-link.js';
import { silentLogger } from '../../domain/logger.js';
import type { GatewayReport } from '../reports.js';
import type { SessionEvent } from '../session-events.js';
import { SessionSync } from './session-sync.js';
import { EventRelay } from '../event-relay.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-snapshot-parts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const skip = await natsSkipReason();

describe('a snapshot larger than a NATS message (agent and control plane over the real NATS)', { skip }, () => {
  let agentBus: Bus;
  let planeBus: Bus;
  let store: Store;
  let sync: SessionSync;
  let relay: EventRelay;
  let link: AgentLink;
  const gw = new FakeAdapter({ id: `gw-parts-${randomId(6)}` });
  const events: SessionEvent[] = [];
  /** Everything in the outbox is on the bus and has reached the subscriber: a second copy would show now. */
  const published = async () => {
    await relay.drain();
    await planeBus.flush(2000);
  };

  before(async () => {
    agentBus = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'snapshot-parts-agent' });
    planeBus = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'snapshot-parts-plane' });
    store = await openStore(`sqlite:${join(dir, 'parts.db')}`);
    sync = new SessionSync({ store, bus: planeBus, logger: silentLogger });
    sync.start();
    relay = new EventRelay({ store, bus: planeBus, logger: silentLogger });
    relay.start();
    planeBus.subscribe(subjects.sessionEvents, (e) => {
      if ((e as SessionEvent).session.gatewayId === gw.config.id) events.push(e as SessionEvent);
    });
    // Long names, so the whole snapshot is several megabytes of JSON.
    for (let i = 0; i < 12_000; i++) gw.connect(`user-${String(i).padStart(5, '0')}-${'x'.repeat(150)}`);
    link = new AgentLink({ bus: agentBus, adapters: [gw], logger: silentLogger, heartbeatMs: 60_000 });
  });
  after(async () => {
    await link?.stop();
    await relay?.stop();
    sync?.stop();
    await agentBus?.close();
    await planeBus?.close();
    await store?.close();
  });

  test('every session of a 12,000-session snapshot is listed, each announced once', async () => {
    assert.ok(
      JSON.stringify([...gw.sessions.values()]).length > 2 * 1024 * 1024,
      'the snapshot is far over one NATS message',
    );
    link.start();
    await waitFor(
      async () => (await store.sessions.countOnline({ gatewayId: gw.config.id })) === 12_000,
      30_000,
      '12,000 sessions online',
      50,
    );
    await sync.idle();
    // Events travel over NATS too: wait for them, then check none came twice.
    await waitFor(async () => events.length >= 12_000, 30_000, '12,000 events', 50);
    await published();
    assert.equal(events.filter((e) => e.type === 'session.connected').length, 12_000);
    assert.equal(new Set(events.map((e) => e.session.ref)).size, 12_000);
  });

  test('a later snapshot in parts ends exactly the sessions it lacks', async () => {
    const gone = [...gw.sessions.keys()].filter((_, i) => i % 7 === 0);
    for (const ref of gone) gw.sessions.delete(ref);
    events.length = 0;
    await gw.snapshot();
    await waitFor(
      async () => (await store.sessions.countOnline({ gatewayId: gw.config.id })) === 12_000 - gone.length,
      30_000,
      'the lacking sessions ended',
      50,
    );
    await sync.idle();
    await waitFor(async () => events.length >= gone.length, 30_000, 'the end events', 50);
    await published();
    assert.deepEqual(
      events
        .filter((e) => e.type === 'session.disconnected')
        .map((e) => e.session.ref)
        .sort(),
      [...gone].sort(),
    );
    assert.equal(events.filter((e) => e.type === 'session.connected').length, 0);
  });
});

describe('a snapshot part lost on the way', () => {
  test('its other parts create and refresh sessions, but no session is ended', async () => {
    const bus = new MemoryBus();
    const store = await openStore(`sqlite:${join(dir, 'lost.db')}`);
    try {
      const gw = new FakeAdapter({ id: `gw-lost-${randomId(6)}` });
      const reports: GatewayReport[] = [];
      bus.subscribe(subjects.gatewayReport(gw.config.id), (r) => void reports.push(r as GatewayReport));
      const link = new AgentLink({ bus, adapters: [gw], logger: silentLogger, heartbeatMs: 60_000 });
      const total = SNAPSHOT_PART_SESSIONS * 3 + 10;
      for (let i = 0; i < total; i++) gw.connect(`user-${i}`);
      link.start();
      await new Promise((r) => setImmediate(r));
      const first = reports.filter((r) => r.type === 'snapshot');
      assert.deepEqual(
        first.map((r) => (r.type === 'snapshot' ? [r.part?.index, r.part?.count] : [])),
        [
          [0, 4],
          [1, 4],
          [2, 4],
          [3, 4],
        ],
      );
      const sync = new SessionSync({ store, bus, logger: silentLogger });
      for (const r of first) await sync.enqueue(r);
      assert.equal(await store.sessions.countOnline({ gatewayId: gw.config.id }), total);

      // Everyone but 1,005 clients leaves. The next snapshot (two parts) loses its last part.
      const stay = [...gw.sessions.keys()].slice(0, SNAPSHOT_PART_SESSIONS + 5);
      for (const ref of [...gw.sessions.keys()]) if (!stay.includes(ref)) gw.sessions.delete(ref);
      const snapshotParts = async () => {
        reports.length = 0;
        await gw.snapshot();
        await new Promise((r) => setImmediate(r));
        return reports.filter((r) => r.type === 'snapshot');
      };
      const second = await snapshotParts();
      assert.equal(second.length, 2);
      await sync.enqueue(second[0]!);
      assert.equal(
        await store.sessions.countOnline({ gatewayId: gw.config.id }),
        total,
        'nothing ended on an incomplete snapshot',
      );
      // The snapshot after it starts over with part 0; the lost part, arriving late and out of
      // place, changes nothing and does not disturb the snapshot in progress.
      const third = await snapshotParts();
      await sync.enqueue(third[0]!);
      await sync.enqueue(second[1]!);
      assert.equal(await store.sessions.countOnline({ gatewayId: gw.config.id }), total);
      await sync.enqueue(third[1]!);
      assert.equal(
        await store.sessions.countOnline({ gatewayId: gw.config.id }),
        stay.length,
        'a complete snapshot ends the rest',
      );
      await link.stop();
    } finally {
      await bus.close();
      await store.close();
    }
  });
});
