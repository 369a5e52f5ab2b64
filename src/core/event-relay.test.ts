/**
 * The event relay over real stores (SQLite and PostgreSQL) and real buses (in-process and NATS):
 * what commits is published, once per stream, by whichever replica's relay gets to it; what rolls
 * back never is; a relay whose bus is down leaves its rows to another.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { waitFor } from '../../test/support/wait.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { twoReplicaStores } from '../../test/support/replica-stores.js';
import { readOutboxRow } from '../../test/support/outbox-rows.js';
import { subjects, type Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { connectNatsBus } from '../bus/nats/nats-bus.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from '../../test/support/nats-server.js';
import { randomId } from '../domain/ids.js';
import { openStore } from '../store/kysely/kysely-store.js';
import { makeSession } from '../store/contract/fixtures.js';
import type { Store } from '../store/store.js';
import { appendSessionEvents, appendTokenRevoked } from './event-outbox.js';
import { DEFAULT_RELAY_OPTIONS, EventRelay, type StoreHealth } from './event-relay.js';
import { silentLogger } from '../domain/logger.js';
import { SessionEventHub } from './session-event-stream.js';
import { sessionEvent, type SessionEvent } from './session-events.js';
import { versioned } from './reports.js';

const pgSkip = await postgresSkipReason();
const natsSkip = await natsSkipReason();

/** Session events of one gateway as they arrive on `bus`, raw (duplicates kept). */
function onBus(bus: Bus, gatewayId: string): SessionEvent[] {
  const got: SessionEvent[] = [];
  bus.subscribe(subjects.sessionEvents, (e) => {
    if ((e as SessionEvent).session.gatewayId === gatewayId) got.push(e as SessionEvent);
  });
  return got;
}

async function commitEvents(store: Store, gatewayId: string, n: number): Promise<SessionEvent[]> {
  const events = Array.from({ length: n }, (_, i) =>
    sessionEvent('session.connected', makeSession(gatewayId, { userName: `u${i}` })),
  );
  await store.transaction((tx) => appendSessionEvents(tx, events, Date.now()));
  return events;
}

/** Ids of the rows `store.outbox.claim` returns from now on. */
function claimedIds(store: Store): string[] {
  const ids: string[] = [];
  const claim = store.outbox.claim.bind(store.outbox);
  store.outbox.claim = async (...args) => {
    const rows = await claim(...args);
    ids.push(...rows.map((r) => r.id));
    return rows;
  };
  return ids;
}

function relayContract(name: string, open: () => Promise<Store>, skip: string | false): void {
  describe(`event relay: ${name}, in-process bus`, { skip }, () => {
    test('committed events are published in the order written and marked published; rolled-back ones never', async () => {
      const store = await open();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      const revoked: unknown[] = [];
      bus.subscribe(subjects.tokenRevoked, (d) => void revoked.push(d));
      try {
        const relay = new EventRelay({ store, bus, logger: silentLogger });
        const lost = sessionEvent('session.disconnected', makeSession(gw));
        await assert.rejects(
          store.transaction(async (tx) => {
            await appendSessionEvents(tx, [lost], Date.now());
            throw new Error('rolled back');
          }),
        );
        const events = await commitEvents(store, gw, 5);
        await store.transaction((tx) => appendTokenRevoked(tx, 'tok_relayed', Date.now()));
        await relay.drain();
        await waitFor(() => got.length === 5 && revoked.length === 1, 5000, 'events on the bus');
        assert.deepEqual(
          got.map((e) => e.id),
          events.map((e) => e.id),
          'in order, each once, the rolled-back one absent',
        );
        assert.deepEqual(got[0], versioned(events[0]!), 'published as written, with the wire version');
        assert.equal((revoked[0] as { tokenId: string }).tokenId, 'tok_relayed');
        assert.notEqual((await readOutboxRow(store, events[4]!.id))?.publishedAt ?? null, null);
        assert.equal(await relay.round(), 0, 'nothing left to publish');
      } finally {
        await bus.close();
        await store.close();
      }
    });

    test("drain waits for a round the relay's own timer started: every row in the outbox is published when it returns", async () => {
      const store = await open();
      const bus = new MemoryBus();
      // The timer's first round holds the rows it claimed (its flush waits) until released.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let flushes = 0;
      const flush = bus.flush.bind(bus);
      bus.flush = async () => {
        if (flushes++ === 0) await gate;
        return flush();
      };
      const gw = `gw-${randomId(6)}`;
      const relay = new EventRelay({ store, bus, logger: silentLogger });
      try {
        const events = await commitEvents(store, gw, 3);
        relay.start();
        await waitFor(() => flushes === 1, 5000, "the timer's round holds its claimed rows");
        let drained = false;
        const draining = relay.drain().then(() => (drained = true));
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(drained, false, 'drain does not return while claimed rows are unpublished');
        release();
        await draining;
        for (const e of events)
          assert.notEqual(
            (await readOutboxRow(store, e.id))?.publishedAt ?? null,
            null,
            'published when drain returns',
          );
      } finally {
        release();
        await relay.stop();
        await bus.close();
        await store.close();
      }
    });

    test('a relay whose bus is down claims nothing; the rows wait for a relay that can publish them', async () => {
      const store = await open();
      const down = new MemoryBus();
      await down.close();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      try {
        const events = await commitEvents(store, gw, 2);
        assert.equal(await new EventRelay({ store, bus: down, logger: silentLogger }).round(), 0);
        assert.equal((await readOutboxRow(store, events[0]!.id))?.publishedAt, null);
        await new EventRelay({ store, bus, logger: silentLogger }).drain();
        await waitFor(() => got.length === 2, 5000, 'published by the healthy relay');
      } finally {
        await bus.close();
        await store.close();
      }
    });

    test('a running relay publishes what its process commits without claiming it: handed over after the commit, in order; a rolled-back change hands nothing', async () => {
      const store = await open();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      const claimed = claimedIds(store);
      const relay = new EventRelay({ store, bus, logger: silentLogger, options: { pollMs: 5 } });
      relay.start();
      try {
        const lost = sessionEvent('session.disconnected', makeSession(gw));
        await assert.rejects(
          store.transaction(async (tx) => {
            await appendSessionEvents(tx, [lost], Date.now());
            throw new Error('rolled back');
          }),
        );
        const events = [...(await commitEvents(store, gw, 3)), ...(await commitEvents(store, gw, 2))];
        await waitFor(() => got.length >= 5, 5000, 'events on the bus');
        assert.deepEqual(
          got.map((e) => e.id),
          events.map((e) => e.id),
          'in order, each once, the rolled-back one absent',
        );
        const mine = new Set(events.map((e) => e.id));
        assert.deepEqual(
          claimed.filter((id) => mine.has(id)),
          [],
          'handed over, never claimed',
        );
        await waitFor(async () => (await readOutboxRow(store, events[4]!.id))?.publishedAt, 5000, 'marked published');
      } finally {
        await relay.stop();
        await bus.close();
        await store.close();
      }
    });

    test('a replica that dies after its commit, holding the events it was handed: another replica publishes them once their lease ends, not before', async () => {
      const store = await open();
      const other = await open();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      let clock = Date.now();
      // The replica that dies: its relay is handed the events and never publishes them.
      store.handOffOutbox({ leaseUntil: () => clock + DEFAULT_RELAY_OPTIONS.leaseMs, take: () => {} });
      try {
        const events = await commitEvents(store, gw, 3);
        const relay = new EventRelay({ store: other, bus, logger: silentLogger, now: () => clock });
        await relay.drain();
        await bus.flush();
        assert.equal(got.length, 0, 'leased to the replica that died');
        clock += DEFAULT_RELAY_OPTIONS.leaseMs + 1;
        await relay.drain();
        await waitFor(() => got.length >= 3, 5000, 'published after the lease');
        assert.deepEqual(
          got.map((e) => e.id),
          events.map((e) => e.id),
        );
      } finally {
        store.handOffOutbox(null);
        await bus.close();
        await store.close();
        await other.close();
      }
    });

    test('a relay takes nothing while its bus is down or once it stopped: what its process commits then is claimable at once', async () => {
      const store = await open();
      const other = await open();
      const down = new MemoryBus();
      await down.close();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      const cut = new EventRelay({ store, bus: down, logger: silentLogger });
      cut.start();
      const stopped = new EventRelay({ store: other, bus, logger: silentLogger });
      stopped.start();
      await stopped.stop();
      try {
        const events = [...(await commitEvents(store, gw, 2)), ...(await commitEvents(other, gw, 1))];
        await new EventRelay({ store, bus, logger: silentLogger }).drain();
        await waitFor(() => got.length >= 3, 5000, 'published by a relay that can');
        assert.deepEqual(
          got.map((e) => e.id),
          events.map((e) => e.id),
        );
      } finally {
        await cut.stop();
        await bus.close();
        await store.close();
        await other.close();
      }
    });

    test('while events keep being handed over, a relay still claims from the outbox every pollMs (rows of a replica that died)', async () => {
      const store = await open();
      const other = await open();
      const bus = new MemoryBus();
      const gw = `gw-${randomId(6)}`;
      const got = onBus(bus, gw);
      const clock = { now: Date.now() };
      const relay = new EventRelay({
        store,
        bus,
        logger: silentLogger,
        options: { pollMs: 60_000 },
        now: () => clock.now,
      });
      relay.start();
      try {
        // The first rounds claim (nothing handed over yet); the next timer's round is a minute away.
        await relay.drain();
        const [dead] = await commitEvents(other, gw, 1);
        const [first] = await commitEvents(store, gw, 1);
        assert.equal(await relay.round(), 1, 'only what was handed over: the last claim was just now');
        clock.now += 60_000;
        const [second] = await commitEvents(store, gw, 1);
        assert.ok((await relay.round()) >= 2, 'the claim was due again');
        await waitFor(() => got.length >= 3, 5000, 'events on the bus');
        assert.deepEqual(
          got.map((e) => e.id),
          [first!.id, dead!.id, second!.id],
          'claimed rows first in a round, then the ones handed over',
        );
      } finally {
        await relay.stop();
        await bus.close();
        await store.close();
        await other.close();
      }
    });

    test('a store that fails is reported unavailable, and available again when it answers', async () => {
      const store = await open();
      const bus = new MemoryBus();
      const health: StoreHealth[] = [];
      const relay = new EventRelay({ store, bus, logger: silentLogger, onStoreHealth: (h) => void health.push(h) });
      await relay.round();
      assert.equal(health.length, 0, 'healthy from the start: nothing to report');
      await store.close();
      await assert.rejects(relay.round());
      assert.deepEqual(
        health.map((h) => h.ok),
        [false],
      );
      await bus.close();
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sb-relay-'));
after(() => rmSync(dir, { recursive: true, force: true }));
relayContract('SQLite', () => openStore(`sqlite:${join(dir, 'relay.db')}`), false);
let pgUrl: string | null = null;
const pgDrops: (() => Promise<void>)[] = [];
after(async () => {
  for (const d of pgDrops) await d();
});
relayContract(
  'PostgreSQL',
  async () => {
    if (!pgUrl) {
      const db = await createFreshPostgresDatabase();
      pgDrops.push(() => db.drop());
      pgUrl = db.url;
    }
    return openStore(pgUrl);
  },
  pgSkip,
);

describe('event relay: two replicas on PostgreSQL and NATS', { skip: pgSkip || natsSkip }, () => {
  test('two relays racing over one outbox: every event reaches a subscriber of either replica, once', async () => {
    const replicas = await twoReplicaStores();
    const busA = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'relay-test-a' });
    const busB = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'relay-test-b' });
    const relays = [
      new EventRelay({ store: replicas.a, bus: busA, logger: silentLogger, options: { pollMs: 5, batch: 7 } }),
      new EventRelay({ store: replicas.b, bus: busB, logger: silentLogger, options: { pollMs: 5, batch: 7 } }),
    ];
    const gw = `gw-${randomId(6)}`;
    const raw = onBus(busB, gw);
    const hub = new SessionEventHub({ bus: busB, logger: silentLogger });
    const stream = hub.stream({ gatewayId: gw });
    try {
      await busB.flush(2000); // the subscriptions are at the server before anything is published
      for (const r of relays) r.start();
      const written = (
        await Promise.all([
          ...Array.from({ length: 10 }, () => commitEvents(replicas.a, gw, 3)),
          ...Array.from({ length: 10 }, () => commitEvents(replicas.b, gw, 3)),
        ])
      ).flat();
      const seen: string[] = [];
      while (seen.length < written.length) seen.push((await stream.next()).value!.id);
      assert.deepEqual(new Set(seen), new Set(written.map((e) => e.id)), 'none lost');
      assert.equal(new Set(seen).size, seen.length, 'none twice on the stream');
      assert.equal(new Set(raw.map((e) => e.id)).size, written.length);
    } finally {
      await stream.return!();
      for (const r of relays) await r.stop();
      await busA.close();
      await busB.close();
      await replicas.close();
    }
  });

  test('a relay that published and died before marking: the next relay publishes again after the lease, and the stream shows it once', async () => {
    const replicas = await twoReplicaStores();
    const busA = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'relay-test-a' });
    const busB = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'relay-test-b' });
    const gw = `gw-${randomId(6)}`;
    const raw = onBus(busB, gw);
    const hub = new SessionEventHub({ bus: busB, logger: silentLogger });
    const stream = hub.stream({ gatewayId: gw });
    try {
      await busB.flush(2000);
      const [event] = await commitEvents(replicas.a, gw, 1);
      // Replica A's relay, by hand: claim, publish, confirm, then it dies before markPublished.
      const now = Date.now();
      const claimed = await replicas.a.outbox.claim(now, now + 10_000, 10);
      assert.deepEqual(
        claimed.map((e) => e.id),
        [event!.id],
      );
      await busA.publish(subjects.sessionEvents, versioned(JSON.parse(claimed[0]!.payload) as object));
      await busA.flush(2000);
      // Replica B's relay, once the lease is over (its clock is moved past it, not waited for).
      const relayB = new EventRelay({
        store: replicas.b,
        bus: busB,
        logger: silentLogger,
        now: () => Date.now() + 10_001,
      });
      assert.equal(await relayB.round(), 1, 'published again');
      await waitFor(() => raw.length === 2, 5000, 'both copies on the bus');
      assert.equal((await stream.next()).value!.id, event!.id);
      const later = (await commitEvents(replicas.b, gw, 1))[0]!;
      await relayB.drain();
      assert.equal((await stream.next()).value!.id, later.id, 'the copy never reached the stream; the next event did');
    } finally {
      await stream.return!();
      await busA.close();
      await busB.close();
      await replicas.close();
    }
  });
});
