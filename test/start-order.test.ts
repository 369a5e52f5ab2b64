/**
 * Start order does not matter, in separate processes: a real OpenVPN gateway with real clients and
 * its `switchboard agent` run BEFORE any `switchboard start` replica exists. The replica that starts
 * later lists their sessions at once (it asks the agents for a snapshot when it starts, instead of
 * waiting for their periodic one, here a minute away), and nobody logs at error level.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason, TEST_NATS_URL } from './support/nats-server.js';
import { randomId } from '../src/domain/ids.js';
import { apiClient, onlineSessions } from './support/api-client.js';
import { waitFor } from './support/wait.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { SwitchboardProcess } from './support/switchboard-process.js';

const skip = openvpnSkipReason() || (await postgresSkipReason()) || (await natsSkipReason());

/** pino's levels: 50 is error, 60 fatal. */
function errorLines(p: SwitchboardProcess): string[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50);
}

describe('agents started before any replica', { skip }, () => {
  const run = randomId(6);
  const gw = `early-${run}`;
  const prefix = `early-${run}`; // its own namespace on the shared NATS
  const procs: SwitchboardProcess[] = [];
  const clients: LabClient[] = [];
  let lab: OpenVpnLab;
  let server: LabServer;
  let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  let agent: SwitchboardProcess;
  let replica: SwitchboardProcess;
  let url = '';
  let admin = '';

  const users = async (): Promise<string[]> => {
    return (await onlineSessions(apiClient(url, admin), gw)).map((s) => s.user.name).sort();
  };

  before(async () => {
    db = await createFreshPostgresDatabase();
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: `pw-${run}` });
    const config = join(lab.dir, `${gw}.yaml`);
    // A periodic snapshot a minute apart: only the replica's request can list the sessions soon.
    writeFileSync(
      config,
      JSON.stringify({
        gateways: [
          {
            id: gw,
            name: 'Early',
            region: 'lab',
            protocol: 'openvpn',
            mode: 'observe',
            management: server.management,
            managementPasswordFile: server.managementPasswordFile,
            snapshotIntervalSeconds: 60,
          },
        ],
      }),
    );
    agent = SwitchboardProcess.start('agent', ['agent'], {
      SWITCHBOARD_NATS_URL: TEST_NATS_URL,
      SWITCHBOARD_NATS_PREFIX: prefix,
      SWITCHBOARD_CONFIG: config,
      SWITCHBOARD_HEARTBEAT_MS: '30000',
      SWITCHBOARD_LOG_LEVEL: 'info',
    });
    procs.push(agent);
    await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/);
    for (const user of ['alice', 'bob']) clients.push(await server.startClient({ user }));
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const c of clients) await c.stop().catch(() => {});
    await lab?.close();
    await db?.drop();
  });

  test('the first replica lists the sessions within seconds of starting, without an error line', async (t) => {
    replica = SwitchboardProcess.start('replica', ['start'], {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: db.url,
      SWITCHBOARD_NATS_URL: TEST_NATS_URL,
      SWITCHBOARD_NATS_PREFIX: prefix,
      SWITCHBOARD_LOG_LEVEL: 'info',
    });
    procs.push(replica);
    admin = (await replica.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    url = (await replica.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const started = performance.now();
    // Bounded well below the agent's next periodic snapshot (60 s) and heartbeat (30 s).
    await waitFor(async () => JSON.stringify(await users()) === '["alice","bob"]', 10_000, 'alice and bob listed');
    t.diagnostic(`sessions listed ${(performance.now() - started).toFixed(0)} ms after the replica listened`);

    // A client that connects now arrives as a delta, on a gateway the replica knows.
    clients.push(await server.startClient({ user: 'carol' }));
    await waitFor(async () => JSON.stringify(await users()) === '["alice","bob","carol"]', 10_000, 'carol listed');
    assert.deepEqual(errorLines(replica), [], replica.tail());
    assert.deepEqual(errorLines(agent), [], agent.tail());
  });
});
