/**
 * A control-plane replica's SIGHUP removes a gateway from ITS gateway file while the gateway's
 * `switchboard agent` (another process, over NATS) still serves it and beats: real processes, a real
 * OpenVPN daemon with a real client, on SQLite (one replica) and on PostgreSQL (two replicas sharing
 * the database). The gateway stays removed: its session ends as GATEWAY_REMOVED and is not listed
 * again, the gateway is not listed and does not read as connected, whatever heartbeats and snapshots
 * its agent keeps sending, on every replica; each replica logs once that it ignores them. A gateway
 * only the agent's file declares follows the agent and is untouched. A later reload that lists the
 * gateway again brings it back: listed, connected, its new clients listed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt } from './support/api-client.js';
import { natsSkipReason, TEST_NATS_URL } from './support/nats-server.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { quietPeriod, waitFor } from './support/wait.js';

const SNAPSHOT_SECONDS = 1;
const ONLINE = 'query { onlineSessions(first: 50) { edges { node { id user { name } gateway { id } } } } }';
const GATEWAYS = '{ gateways { id agentConnected } }';
const HISTORY = `query ($id: String!) { sessionHistory(filter: { sessionId: $id }) { edges { node {
  endCause gateway { id agentConnected } } } } }`;
const IGNORED = /gateway removed from this replica's gateway file: its agent's reports are ignored/;

interface Online {
  id: string;
  user: { name: string };
  gateway: { id: string };
}

const skip = openvpnSkipReason() || (await natsSkipReason());
const pgSkip = skip || (await postgresSkipReason());

for (const shape of [
  { store: 'SQLite', replicas: 1, skip },
  { store: 'PostgreSQL', replicas: 2, skip: pgSkip },
] as const) {
  describe(
    `a replica's reload removes a gateway whose agent still beats (${shape.store}, NATS)`,
    {
      skip: shape.skip,
      timeout: 180_000,
    },
    () => {
      const run = randomId(6); // the NATS server is shared: unique subjects and gateway ids
      const gw = `rr-${run}`; // declared by the replicas' file and the agent's
      const own = `rr-own-${run}`; // declared by the agent's file only
      const procs: SwitchboardProcess[] = [];
      let lab: OpenVpnLab;
      let server: LabServer;
      let other: LabServer;
      let replicaFile: string;
      let databaseUrl: string;
      let dropDatabase = async () => {};
      let token = '';
      const urls: string[] = [];

      const entry = (id: string, s: LabServer) => ({
        id,
        name: `Replica reload ${id}`,
        region: 'lab',
        protocol: 'openvpn',
        mode: 'observe',
        management: s.management,
        managementPasswordFile: s.managementPasswordFile,
        snapshotIntervalSeconds: SNAPSHOT_SECONDS,
      });
      const spawn = (name: string, args: string[], env: Record<string, string>) => {
        const p = SwitchboardProcess.start(name, args, {
          SWITCHBOARD_NATS_URL: TEST_NATS_URL,
          SWITCHBOARD_NATS_PREFIX: `replicareload${run}`,
          SWITCHBOARD_LOG_LEVEL: 'info',
          ...env,
        });
        procs.push(p);
        return p;
      };
      const replicas = () => procs.filter((p) => p.name.startsWith('replica'));
      async function gql<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
        const r = await gqlAt(url, token, query, variables);
        assert.equal(r.status, 200, r.text);
        return r.json.data as T;
      }
      async function online(url: string): Promise<Online[]> {
        return (await gql<{ onlineSessions: { edges: { node: Online }[] } }>(url, ONLINE)).onlineSessions.edges.map(
          (e) => e.node,
        );
      }
      async function listed(url: string): Promise<{ id: string; agentConnected: boolean }[]> {
        return (await gql<{ gateways: { id: string; agentConnected: boolean }[] }>(url, GATEWAYS)).gateways;
      }
      /** A session as its history shows it: how it ended, and its gateway as a session's page shows it. */
      async function historyOf(url: string, id: string) {
        const data = await gql<{
          sessionHistory: {
            edges: { node: { endCause: string | null; gateway: { id: string; agentConnected: boolean } } }[];
          };
        }>(url, HISTORY, { id });
        return data.sessionHistory.edges[0]?.node;
      }
      const connectedOn = async (url: string, id: string) =>
        (await listed(url)).find((g) => g.id === id)?.agentConnected === true;
      const userOn = async (url: string, id: string, user: string) =>
        (await online(url)).find((s) => s.gateway.id === id && s.user.name === user);
      /** Every replica, once `check` holds on each. */
      const onEvery = (check: (url: string) => Promise<unknown>, what: string) =>
        Promise.all(urls.map((url) => waitFor(() => check(url), 30_000, `${what} on ${url}`)));

      before(async () => {
        lab = await OpenVpnLab.create();
        [server, other] = await Promise.all([
          lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: `rr-pw-${run}` }),
          lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: `rr-pw-${run}` }),
        ]);
        await Promise.all([server.startClient({ user: 'alice' }), other.startClient({ user: 'olga' })]);
        if (shape.store === 'PostgreSQL') {
          const db = await createFreshPostgresDatabase();
          databaseUrl = db.url;
          dropDatabase = () => db.drop();
        } else databaseUrl = join(lab.dir, 'replica-reload.db');
        replicaFile = join(lab.dir, 'replica-gateways.json');
        writeFileSync(replicaFile, JSON.stringify({ gateways: [entry(gw, server)] }));
        const agentFile = join(lab.dir, 'agent-gateways.json');
        writeFileSync(agentFile, JSON.stringify({ gateways: [entry(gw, server), entry(own, other)] }));
        const replica = (name: string) =>
          spawn(name, ['start'], {
            SWITCHBOARD_PORT: '0',
            SWITCHBOARD_DATABASE_URL: databaseUrl,
            SWITCHBOARD_CONFIG: replicaFile,
          });
        const listening = async (p: SwitchboardProcess) =>
          (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 60_000))[1]!;
        const first = replica('replica A');
        token = (await first.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m, 60_000))[1]!;
        urls.push(await listening(first));
        if (shape.replicas === 2) urls.push(await listening(replica('replica B')));
        await spawn('agent', ['agent'], {
          SWITCHBOARD_CONFIG: agentFile,
          SWITCHBOARD_HEARTBEAT_MS: '250',
        }).waitForOutput(/Switchboard agent agt_\w+ is reporting/, 60_000);
      });
      after(async () => {
        await Promise.all(procs.map((p) => p.stop()));
        await lab?.close();
        await dropDatabase();
      });

      test('removed from the replica file: stays removed while its agent beats and snapshots, on every replica', async () => {
        await onEvery((url) => userOn(url, gw, 'alice'), 'alice on the gateway');
        await onEvery((url) => userOn(url, own, 'olga'), "olga on the agent's own gateway");
        const alice = (await userOn(urls[0]!, gw, 'alice'))!;

        writeFileSync(replicaFile, JSON.stringify({ gateways: [] }));
        replicas()[0]!.kill('SIGHUP'); // replica A only: B learns of the removal from the shared store
        await onEvery(async (url) => !(await online(url)).some((s) => s.id === alice.id), "alice's session ended");

        // Several heartbeats (every 250 ms) and snapshots (every second) of the gateway later:
        await quietPeriod(3_000);
        for (const url of urls) {
          const ended = await historyOf(url, alice.id);
          assert.equal(ended?.endCause, 'GATEWAY_REMOVED', `alice's session ended as GATEWAY_REMOVED on ${url}`);
          assert.equal(ended?.gateway.agentConnected, false, `the gateway reads as not connected on ${url}`);
          assert.ok(!(await listed(url)).some((g) => g.id === gw), `the gateway is not listed on ${url}`);
          assert.ok(
            !(await online(url)).some((s) => s.gateway.id === gw),
            `no session of the gateway listed on ${url}`,
          );
          assert.ok(await connectedOn(url, own), `the agent's own gateway is still connected on ${url}`);
          assert.ok(await userOn(url, own, 'olga'), `olga still listed on ${url}`);
        }
        for (const p of replicas()) {
          const lines = p
            .output()
            .split('\n')
            .filter((l) => IGNORED.test(l));
          assert.equal(lines.length, 1, `${p.name} logs the ignored reports once`);
          assert.match(lines[0]!, new RegExp(gw));
        }
      });

      test('listed again by a later reload: the gateway comes back, connected, and its new clients are listed', async () => {
        writeFileSync(replicaFile, JSON.stringify({ gateways: [entry(gw, server)] }));
        replicas()[0]!.kill('SIGHUP');
        await onEvery((url) => connectedOn(url, gw), 'the gateway listed and connected again');
        await server.startClient({ user: 'carol' });
        await onEvery((url) => userOn(url, gw, 'carol'), 'carol on the gateway');
        assert.ok(await connectedOn(urls[0]!, own), "the agent's own gateway still connected");
      });
    },
  );
}
