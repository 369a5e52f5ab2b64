/**
 * Who sends a gateway its blocks when two replicas share one PostgreSQL database, on the in-process
 * bus and on NATS: the first snapshot of an agent's run, every replica at once; a later (periodic)
 * snapshot of that run, only the replica that recorded it (one store read, one list, not one per
 * replica); a new agent run, every replica again. Each list is the store's.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason } from '../../test/support/postgres.js';
import { natsSkipReason, TEST_NATS_URL } from '../../test/support/nats-server.js';
import { twoReplicaStores, type ReplicaStores } from '../../test/support/replica-stores.js';
import { FakeAdapter } from '../../test/support/fake-adapter.js';
import { waitFor } from '../../test/support/wait.js';
import type { Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { connectNatsBus } from '../bus/nats/nats-bus.js';
import { silentLogger } from '../domain/logger.js';
import type { Store } from '../store/store.js';
import { AgentLink } from './agent-link.js';
import { BlockAdmin } from './blocks.js';
import { SessionSync } from './sync/session-sync.js';

const pgSkip = await postgresSkipReason();
const natsSkip = await natsSkipReason();

/** Counts a store's reads of block lists (what each list sent costs). */
function countReads(store: Store): { n: number } {
  const count = { n: 0 };
  const listActive = store.blocks.listActive.bind(store.blocks);
  store.blocks.listActive = (...args) => {
    count.n++;
    return listActive(...args);
  };
  return count;
}

for (const kind of ['memory', 'nats'] as const) {
  describe(
    `block lists with two replicas on PostgreSQL, ${kind} bus`,
    { skip: pgSkip || (kind === 'nats' && natsSkip) },
    () => {
      let replicas: ReplicaStores;
      /** Each replica's bus and the agent's (one in-process bus shared by all three, or three NATS connections). */
      let buses: [Bus, Bus, Bus];
      const stops: (() => void | Promise<void>)[] = [];

      before(async () => {
        replicas = await twoReplicaStores();
        if (kind === 'memory') {
          const bus = new MemoryBus();
          buses = [bus, bus, bus];
        } else {
          const prefix = `blocks-${randomUUID().slice(0, 8)}`;
          const open = (name: string) => connectNatsBus({ url: TEST_NATS_URL, prefix, name });
          buses = [await open('replica-a'), await open('replica-b'), await open('agent')];
        }
      });
      after(async () => {
        for (const stop of stops.reverse()) await stop();
        for (const bus of new Set(buses)) await bus.close();
        await replicas?.close();
      });

      test('first snapshot of a run: both replicas send; a periodic one: only the replica that recorded it; a new run: both', async () => {
        const gatewayId = `gw-blk-${kind}`;
        await replicas.a.blocks.put({
          gatewayId,
          userName: 'mallory',
          until: Date.now() + 3_600_000,
          blockedAt: Date.now(),
          blockedByTokenId: null,
          blockedByName: 'ops',
          reason: null,
          message: null,
          sessionId: null,
        });
        const reads = [countReads(replicas.a), countReads(replicas.b)];
        const syncs = [replicas.a, replicas.b].map((store, i) => {
          const sync = new SessionSync({ store, bus: buses[i]!, logger: silentLogger });
          const admin = new BlockAdmin({ store, bus: buses[i]!, logger: silentLogger });
          sync.start();
          admin.start(sync);
          stops.push(
            () => sync.stop(),
            () => admin.stop(),
          );
          return sync;
        });
        const applied = [0, 0];
        syncs.forEach((sync, i) => stops.push(sync.onSnapshot(() => void applied[i]!++)));
        const flush = async () => {
          for (const bus of new Set(buses)) await bus.flush(5000);
        };
        await flush();
        let gw = new FakeAdapter({ id: gatewayId });
        const startAgent = async () => {
          gw = new FakeAdapter({ id: gatewayId });
          const agent = new AgentLink({ bus: buses[2], adapters: [gw], logger: silentLogger, heartbeatMs: 60_000 });
          agent.start(); // its adapter sends a snapshot as it starts
          stops.push(() => agent.stop());
          return agent;
        };
        /** A snapshot sent, applied by both replicas: the store reads made for its list, once the agent has `lists` lists. */
        const step = async (send: () => unknown, lists: number) => {
          const before = reads[0]!.n + reads[1]!.n;
          const target = applied.map((n) => n + 1);
          await send();
          await flush();
          await waitFor(() => applied.every((n, i) => n >= target[i]!) || undefined, 5000, 'both replicas applied it');
          // Both replicas decided by now (as the snapshot arrived, or as they applied it): the reads are final.
          const made = reads[0]!.n + reads[1]!.n - before;
          await waitFor(
            () => (gw.blockLists.length >= lists ? true : undefined),
            5000,
            `${lists} block lists at the agent`,
          );
          return made;
        };

        let agent!: AgentLink;
        const restart = async () => {
          await agent?.stop();
          agent = await startAgent();
        };
        assert.equal(await step(restart, 2), 2, "a run's first snapshot: each replica reads and sends the list");
        assert.equal(
          await step(() => gw.snapshot(), 3),
          1,
          'a periodic snapshot of the run: one replica reads and sends it',
        );
        assert.equal(await step(() => gw.snapshot(), 4), 1, 'and again');
        await flush();
        assert.equal(gw.blockLists.length, 4, 'one list per periodic snapshot, not one per replica');
        for (const list of gw.blockLists)
          assert.deepEqual(
            list.blocks.map((b) => b.userName),
            ['mallory'],
            "each list is the store's",
          );

        // The agent restarted (a new agentId): it has no copy, so every replica sends at once again.
        assert.equal(await step(restart, 2), 2, "a new run's first snapshot: each replica sends");
        assert.equal(await step(() => gw.snapshot(), 3), 1, 'then one replica per snapshot again');
      });
    },
  );
}
