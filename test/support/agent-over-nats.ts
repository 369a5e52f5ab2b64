/**
 * The many-hosts shape in separate processes: a `switchboard start` control plane (SQLite in `dir`)
 * and a `switchboard agent` for the gateways of `gatewayFile`, NATS between them under a prefix of
 * their own, and a watcher collecting the session events of gateway `gatewayId` from NATS. Returns
 * once the agent holds gateway `gatewayId`'s daemon link (see `waitLinked`).
 */
import { join } from 'node:path';
import { subjects } from '../../src/bus/bus.js';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats/nats-bus.js';
import type { SessionEvent } from '../../src/core/session-events.js';
import { apiClient, waitLinked } from './api-client.js';
import { TEST_NATS_URL } from './nats-server.js';
import { SwitchboardProcess } from './switchboard-process.js';

/**
 * How long each process may take to print that it is up. Both load the compiled server and connect to
 * NATS; on a shared 2-core machine at load 30+ the agent once took over 20 s to print its line, with
 * nothing wrong in it. A wait on a condition, not a timing assertion.
 */
const START_MS = 60_000;

export interface AgentOverNats {
  /** The control plane's GraphQL endpoint and its bootstrap admin token. */
  url: string;
  admin: string;
  /** Session events of the gateway, as NATS subscribers see them. */
  events: SessionEvent[];
  /** The two processes (to signal them or read their output) and the control plane's SQLite file. */
  control: SwitchboardProcess;
  agent: SwitchboardProcess;
  databasePath: string;
  close(): Promise<void>;
}

export async function startAgentOverNats(options: {
  dir: string;
  gatewayFile: string;
  gatewayId: string;
  prefix: string;
  /** More environment for the control plane (e.g. its SWITCHBOARD_GATEWAY_LIVENESS_MS). */
  controlEnv?: Record<string, string>;
}): Promise<AgentOverNats> {
  const control = await startControlPlaneOverNats(options);
  return control.startAgent(options.gatewayFile);
}

/** The control plane (and the watcher) of `startAgentOverNats` alone, up; its agent starts once the gateway file is there. */
export interface ControlPlaneOverNats {
  startAgent(gatewayFile: string): Promise<AgentOverNats>;
  close(): Promise<void>;
}

/**
 * The first half of `startAgentOverNats`: the watcher and the control plane, started and listening.
 * The control plane needs nothing of the gateway, so it may start while the gateway's lab is made.
 */
export async function startControlPlaneOverNats(options: {
  dir: string;
  gatewayId: string;
  prefix: string;
  controlEnv?: Record<string, string>;
}): Promise<ControlPlaneOverNats> {
  const procs: SwitchboardProcess[] = [];
  const events: SessionEvent[] = [];
  let watcher: NatsBus | undefined;
  const close = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await watcher?.close();
  };
  try {
    watcher = await connectNatsBus({ url: TEST_NATS_URL, prefix: options.prefix });
    watcher.subscribe(subjects.sessionEvents, (e) => {
      const event = e as SessionEvent;
      if (event.session.gatewayId === options.gatewayId) events.push(event);
    });
    const env = {
      SWITCHBOARD_NATS_URL: TEST_NATS_URL,
      SWITCHBOARD_NATS_PREFIX: options.prefix,
      SWITCHBOARD_LOG_LEVEL: 'info',
    };
    const databasePath = join(options.dir, 'switchboard.db');
    const control = SwitchboardProcess.start('control plane', ['start'], {
      ...env,
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: databasePath,
      ...options.controlEnv,
    });
    procs.push(control);
    const admin = (await control.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m, START_MS))[1]!;
    const url = (await control.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, START_MS))[1]!;
    return {
      async startAgent(gatewayFile) {
        try {
          const agent = SwitchboardProcess.start('agent', ['agent'], {
            ...env,
            SWITCHBOARD_CONFIG: gatewayFile,
            SWITCHBOARD_HEARTBEAT_MS: '500',
          });
          procs.push(agent);
          await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/, START_MS);
          // Reporting is not linked: an OpenVPN authorize client started before would go unanswered.
          await waitLinked(apiClient(url, admin), options.gatewayId);
          return { url, admin, events, control, agent, databasePath, close };
        } catch (e) {
          await close();
          throw e;
        }
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
