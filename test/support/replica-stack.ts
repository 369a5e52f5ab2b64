/**
 * Many hosts in one test: a fresh PostgreSQL database, a real OpenVPN daemon (observe mode, UDP) with
 * its `switchboard agent`, and two `switchboard start` replicas on the shared NATS under a subject
 * prefix of their own. For fault tests that kill one replica and check what the other records.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_NATS_URL } from './nats-server.js';
import { randomId } from '../../src/domain/ids.js';
import { gql as gqlAt, type Reply, type Variables } from './api-client.js';
import { OpenVpnLab, type LabServer } from './openvpn-lab.js';
import { createFreshPostgresDatabase } from './postgres.js';
import { SwitchboardProcess } from './switchboard-process.js';

export interface ReplicaStack {
  gw: string;
  /** A connection of the test's own to the replicas' database. */
  sql: pg.Client;
  server: LabServer;
  /** The bootstrap admin token. */
  admin: string;
  replicaA: SwitchboardProcess;
  replicaB: SwitchboardProcess;
  /** Starts one more replica on the same database and bus; its process and GraphQL URL once it listens. */
  startReplica(name: string): Promise<{ process: SwitchboardProcess; url: string }>;
  /** The gateway's `switchboard agent` (the first one started). */
  agent: SwitchboardProcess;
  /** Starts another `switchboard agent` for the gateway and resolves once it reports. */
  startAgent(name: string): Promise<SwitchboardProcess>;
  urlA: string;
  urlB: string;
  /** POST /graphql with the admin token; the parsed body. */
  gql(url: string, query: string, variables: Variables): Promise<Reply['json']>;
  close(): Promise<void>;
}

export async function startReplicaStack(o: {
  name: string;
  snapshotIntervalSeconds: number;
  replicaEnv?: Record<string, string>;
  /** The daemon's mode; `observe` unless said. */
  mode?: 'observe' | 'authorize';
  /** The daemon's transport; UDP unless said. */
  proto?: 'udp4' | 'tcp4';
  /** The management address the agents use instead of the daemon's own socket (say, a proxy's). */
  managementVia?: (management: string) => Promise<string>;
  /** Another NATS than the shared test server (say, a private one). */
  natsUrl?: string;
  /** The gateway's id; `<name>-<random>` unless said. */
  gatewayId?: string;
}): Promise<ReplicaStack> {
  const run = randomId(6);
  const gw = o.gatewayId ?? `${o.name}-${run}`;
  const procs: SwitchboardProcess[] = [];
  const db = await createFreshPostgresDatabase();
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const lab = await OpenVpnLab.create();
  const close = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab.close();
    await sql.end();
    await db.drop();
  };
  try {
    const mode = o.mode ?? 'observe';
    const server = await lab.startServer({ proto: o.proto ?? 'udp4', mode, managementPassword: `pw-${run}` });
    writeFileSync(
      join(lab.dir, 'gw.yaml'),
      JSON.stringify({
        gateways: [
          {
            id: gw,
            name: `${o.name} lab`,
            region: 'lab',
            protocol: 'openvpn',
            mode,
            management: o.managementVia ? await o.managementVia(server.management) : server.management,
            managementPasswordFile: server.managementPasswordFile,
            snapshotIntervalSeconds: o.snapshotIntervalSeconds,
          },
        ],
      }),
    );
    const start = (name: string, args: string[], env: Record<string, string>) => {
      const p = SwitchboardProcess.start(name, args, {
        SWITCHBOARD_NATS_URL: o.natsUrl ?? TEST_NATS_URL,
        SWITCHBOARD_NATS_PREFIX: `${o.name}_${run}`,
        SWITCHBOARD_LOG_LEVEL: 'info',
        ...env,
      });
      procs.push(p);
      return p;
    };
    const replica = (name: string) =>
      start(name, ['start'], { SWITCHBOARD_PORT: '0', SWITCHBOARD_DATABASE_URL: db.url, ...o.replicaEnv });
    const listening = async (p: SwitchboardProcess) =>
      (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 60_000))[1]!;
    const replicaA = replica('replica A');
    const admin = (await replicaA.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m, 60_000))[1]!;
    const urlA = await listening(replicaA);
    const replicaB = replica('replica B');
    const urlB = await listening(replicaB);
    const startReplica = async (name: string) => {
      const process = replica(name);
      return { process, url: await listening(process) };
    };
    const startAgent = async (name: string) => {
      const agent = start(name, ['agent'], { SWITCHBOARD_CONFIG: join(lab.dir, 'gw.yaml') });
      await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/, 60_000);
      return agent;
    };
    const agent = await startAgent('agent');
    const gql: ReplicaStack['gql'] = async (url, query, variables) => (await gqlAt(url, admin, query, variables)).json;
    return { gw, sql, server, admin, replicaA, replicaB, startReplica, agent, startAgent, urlA, urlB, gql, close };
  } catch (e) {
    await close();
    throw e;
  }
}
