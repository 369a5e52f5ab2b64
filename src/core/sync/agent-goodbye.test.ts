/**
 * An agent that stops serving a gateway says goodbye (a `link-down` with `stopped`), and the control
 * plane shows the link down at once, not after the liveness window; on both stores and both buses.
 * The goodbye keeps its place in the gateway's order (no older report overtakes it), and an old agent
 * run's goodbye does not mark a newer run's link down.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FakeAdapter } from '../../../test/support/fake-adapter.js';
import { databaseFor, postgresSkipReason } from '../../../test/support/postgres.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from '../../../test/support/nats-server.js';
import { waitFor } from '../../../test/support/wait.js';
import { subjects, type Bus } from '../../bus/bus.js';
import { MemoryBus } from '../../bus/memory/memory-bus.js';
import { connectNatsBus } from '../../bus/nats/nats-bus.js';
import { GATEWAY_PROBLEM } from '../../domain/gateway.js';
import { silentLogger } from '../../domain/logger.js';
import { openStore, type KyselyStore } from '../../store/kysely/kysely-store.js';
import { AgentLink } from '../agent-link.js';
import { versioned, type GatewayReport } from '../reports.js';
import { sessionReport } from './session-report.test-support.js';
import { SessionSync } from './session-sync.js';

const skips = { sqlite: false as const, postgres: await postgresSkipReason() };
const natsSkip = await natsSkipReason();
let prefixes = 0;

/** Two bus ends, the agent's and the replica's (on NATS: two connections, as two processes have). */
async function busPair(kind: 'memory' | 'nats'): Promise<{ agent: Bus; replica: Bus; close(): Promise<void> }> {
  if (kind === 'memory') {
    const bus = new MemoryBus();
    return { agent: bus, replica: bus, close: () => bus.close() };
  }
  const prefix = `${TEST_NATS_PREFIX}_bye${prefixes++}`;
  const agent = await connectNatsBus({ url: TEST_NATS_URL, prefix });
  const replica = await connectNatsBus({ url: TEST_NATS_URL, prefix });
  return { agent, replica, close: async () => void (await Promise.all([agent.close(), replica.close()])) };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`an agent's goodbye (${dialect})`, { skip: skips[dialect] }, () => {
    const opened: Array<{ store: KyselyStore; drop(): Promise<void> }> = [];
    let clock = 1_800_000_000_000;
    const now = () => clock;
    async function store(): Promise<KyselyStore> {
      const db = await databaseFor(dialect);
      const s = await openStore(db.url);
      opened.push({ store: s, drop: db.drop });
      return s;
    }
    after(async () => {
      for (const o of opened) {
        await o.store.close();
        await o.drop();
      }
    });

    for (const kind of ['memory', 'nats'] as const) {
      test(
        `over the ${kind} bus: stopping the agent shows each of its gateways' links down at once, statusSince moved`,
        {
          skip: kind === 'nats' && natsSkip,
        },
        async () => {
          const s = await store();
          const buses = await busPair(kind);
          const sync = new SessionSync({ store: s, bus: buses.replica, logger: silentLogger, now });
          sync.start();
          const gws = [new FakeAdapter({ id: `bye-a-${kind}` }), new FakeAdapter({ id: `bye-b-${kind}` })];
          const agent = new AgentLink({ bus: buses.agent, adapters: gws, logger: silentLogger, heartbeatMs: 60_000 });
          try {
            agent.start();
            for (const gw of gws)
              await waitFor(async () => (await s.gateways.findById(gw.config.id))?.agentConnected, 10_000, 'linked');
            const since = (await s.gateways.findById(gws[0]!.config.id))!.statusSince!;
            clock += 1_000;
            await agent.stop();
            for (const gw of gws) {
              const g = await waitFor(
                async () => {
                  const g = await s.gateways.findById(gw.config.id);
                  return g?.agentConnected === false ? g : null;
                },
                10_000,
                `${gw.config.id} shown down`,
              );
              assert.equal(g.statusSince, since + 1_000, 'statusSince moved to the goodbye');
              assert.equal(g.lastError, GATEWAY_PROBLEM.agentStopped);
            }
          } finally {
            sync.stop();
            await sync.idle();
            await buses.close();
          }
        },
      );
    }

    test("an agent's reload says goodbye for the gateways it removes and changes only, each with its reason", async () => {
      const s = await store();
      const bus = new MemoryBus();
      const sync = new SessionSync({ store: s, bus, logger: silentLogger, now });
      sync.start();
      const kept = new FakeAdapter({ id: 'bye-kept' });
      const removed = new FakeAdapter({ id: 'bye-removed' });
      const changed = new FakeAdapter({ id: 'bye-changed' });
      const agent = new AgentLink({
        bus,
        adapters: [kept, removed, changed],
        logger: silentLogger,
        heartbeatMs: 60_000,
      });
      agent.start();
      await new Promise((r) => setImmediate(r));
      await sync.idle();
      const remade = new FakeAdapter({ id: 'bye-changed', name: 'renamed' });
      await agent.reload({ added: [], removed: ['bye-removed'], changed: [remade.config] }, () => remade);
      await new Promise((r) => setImmediate(r));
      await sync.idle();
      const gone = await s.gateways.findById('bye-removed');
      assert.equal(gone?.agentConnected, false);
      assert.equal(gone?.lastError, GATEWAY_PROBLEM.agentStopped);
      const linkedAgain = await waitFor(
        async () => {
          const g = await s.gateways.findById('bye-changed');
          return g?.agentConnected ? g : null;
        },
        10_000,
        'the changed gateway linked again',
      );
      assert.equal(
        linkedAgain.lastError,
        GATEWAY_PROBLEM.reloadChanged,
        'the reload, not a stopped agent, is its last problem',
      );
      const untouched = await s.gateways.findById('bye-kept');
      assert.equal(untouched?.agentConnected, true);
      assert.equal(untouched?.lastError, null);
      await agent.stop();
      sync.stop();
      await sync.idle();
      await bus.close();
    });

    describe('ordering', () => {
      let n = 0;
      /** A replica on the in-process bus, fed reports as an agent's bus would deliver them. */
      async function replica() {
        const s = await store();
        const bus = new MemoryBus();
        const sync = new SessionSync({ store: s, bus, logger: silentLogger, now });
        sync.start();
        const gatewayId = `bye-order-${n++}`;
        const seqs = new Map<string, number>();
        const report = (agentId: string, body: Record<string, unknown>) => {
          const seq = (seqs.get(agentId) ?? 0) + 1;
          seqs.set(agentId, seq);
          clock += 10;
          return bus.publish(
            subjects.gatewayReport(gatewayId),
            versioned({ gatewayId, agentId, seq, at: clock, ...body } as GatewayReport),
          );
        };
        const gateway = { name: 'order', region: 'test', protocol: 'openvpn', mode: 'observe' };
        return {
          gatewayId,
          heartbeat: (agentId: string, linkUp = true) => report(agentId, { type: 'heartbeat', gateway, linkUp }),
          snapshot: (agentId: string, sessions: number) =>
            report(agentId, {
              type: 'snapshot',
              gateway,
              daemonStartedAt: 1,
              sessions: Array.from({ length: sessions }, (_, i) => sessionReport(`1:${i}`, 1)),
            }),
          goodbye: (agentId: string) =>
            report(agentId, { type: 'link-down', error: GATEWAY_PROBLEM.agentStopped, stopped: true }),
          linked: async () => {
            await new Promise((r) => setImmediate(r));
            await sync.idle();
            return (await s.gateways.findById(gatewayId))?.agentConnected;
          },
          close: async () => {
            sync.stop();
            await sync.idle();
            await bus.close();
          },
        };
      }

      test("an old run's goodbye heard after a new run's heartbeat leaves the new run's link up", async () => {
        const r = await replica();
        await r.heartbeat('agt_old');
        await r.heartbeat('agt_new');
        await r.goodbye('agt_old');
        assert.equal(await r.linked(), true, "the old run's goodbye did not take the new run's link down");
        await r.goodbye('agt_new');
        assert.equal(await r.linked(), false, "the new run's own goodbye does");
        await r.close();
      });

      test("a goodbye heard before the new run's first heartbeat: down, then up with the new run", async () => {
        const r = await replica();
        await r.heartbeat('agt_old');
        await r.goodbye('agt_old');
        assert.equal(await r.linked(), false);
        await r.heartbeat('agt_new');
        assert.equal(await r.linked(), true);
        await r.close();
      });

      test('a goodbye right after a large snapshot (checked over several turns) is applied after it, not overtaken', async () => {
        const r = await replica();
        await r.heartbeat('agt_one');
        // Over CHECK_SLICE sessions: read a slice per turn of the event loop, while the goodbye is already in.
        await r.snapshot('agt_one', 350);
        await r.goodbye('agt_one');
        assert.equal(await r.linked(), false, 'the snapshot (which marks the link up) did not overtake the goodbye');
        await r.close();
      });
    });
  });
}
