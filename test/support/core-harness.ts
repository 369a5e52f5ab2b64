/**
 * Core wired as in production (real store, in-process bus, sync, agent link) with gateway test
 * doubles; for core and API tests that do not need a real daemon.
 */
import { openStore } from '../../src/store/kysely/kysely-store.js';
import type { Store } from '../../src/store/store.js';
import { MemoryBus } from '../../src/bus/memory/memory-bus.js';
import { Switchboard, type CoreOptions } from '../../src/core/switchboard.js';
import { SessionSync } from '../../src/core/sync/session-sync.js';
import { ReportIntake } from '../../src/core/report-intake.js';
import { SettledIntents } from '../../src/core/settled-intents.js';
import { KillsInFlight } from '../../src/core/kills-in-flight.js';
import { AgentLink } from '../../src/core/agent-link.js';
import { EventRelay } from '../../src/core/event-relay.js';
import { silentLogger } from '../../src/domain/logger.js';
import type { Actor } from '../../src/domain/actor.js';
import type { Scope } from '../../src/domain/scopes.js';
import { FakeAdapter } from './fake-adapter.js';

export interface CoreHarness {
  store: Store;
  bus: MemoryBus;
  core: Switchboard;
  sync: SessionSync;
  agents: AgentLink;
  /** Publishes the event outbox to the bus (as main.ts runs it); `settle()` drains it. */
  relay: EventRelay;
  gateways: FakeAdapter[];
  /** Waits until every report so far is applied and every committed event is published. */
  settle(): Promise<void>;
  actor(scopes: Scope[], name?: string): Actor;
  close(): Promise<void>;
}

export async function startCoreHarness(
  storeUrl: string,
  options: {
    gatewayIds?: string[];
    deadlineMs?: number;
    prepare?: (gateways: FakeAdapter[]) => void;
    /** As main.ts passes the deployment guard's (see core/deployment-guard.ts). */
    deploymentConflict?: CoreOptions['deploymentConflict'];
    /** The deployment id the core's kill requests carry, and the one its agents are told they serve. */
    deploymentId?: string;
    agentDeploymentId?: string;
    /** The deployment whose agents' reports sync applies (stamped by another: dropped); unset, all. */
    intakeDeploymentId?: string;
  } = {},
): Promise<CoreHarness> {
  const store = await openStore(storeUrl);
  const bus = new MemoryBus();
  // As main.ts: sync hands the intents a daemon's report settled to the disconnect waiting on the reply.
  const settled = new SettledIntents();
  const kills = new KillsInFlight();
  const core = new Switchboard({
    settled,
    kills,
    store,
    bus,
    logger: silentLogger,
    disconnectDeadlineMs: options.deadlineMs ?? 1000,
    gatewayLivenessMs: 15_000,
    deploymentConflict: options.deploymentConflict,
    deploymentId: options.deploymentId,
  });
  const intake = new ReportIntake({ logger: silentLogger, deploymentId: options.intakeDeploymentId });
  const sync = new SessionSync({ store, bus, logger: silentLogger, settled, kills, intake });
  sync.start();
  const relay = new EventRelay({
    store,
    bus,
    logger: silentLogger,
    onStoreHealth: (health) => core.eventStoreHealth(health),
  });
  relay.start();
  const gateways = (options.gatewayIds ?? ['gw-a', 'gw-b']).map((id) => new FakeAdapter({ id }));
  options.prepare?.(gateways);
  const agents = new AgentLink({
    bus,
    adapters: gateways,
    logger: silentLogger,
    heartbeatMs: 60_000,
    deploymentId: options.agentDeploymentId,
  });
  agents.start();
  const settle = async () => {
    // Bus delivery is a microtask away; a few turns let every report reach the sync queue.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      await sync.idle();
    }
    await relay.drain();
    await new Promise((r) => setImmediate(r));
  };
  await settle();
  return {
    store,
    bus,
    core,
    sync,
    agents,
    relay,
    gateways,
    settle,
    actor: (scopes, name = 'tester') => ({ tokenId: `tok_${name}`, name, scopes, ip: '127.0.0.1', userAgent: 'test' }),
    async close() {
      await agents.stop();
      await relay.stop();
      sync.stop();
      await sync.idle();
      await bus.close();
      await store.close();
    },
  };
}
