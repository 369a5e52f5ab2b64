/**
 * Issue "Many gateways, many replicas", end to end and in SEPARATE PROCESSES: two real OpenVPN
 * gateways with real clients, one `switchboard agent` process per gateway, two `switchboard start`
 * replicas on one fresh PostgreSQL database, all talking over the NATS server running here.
 * Tests run in order and share the setup; each builds on the state the previous one left.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { subjects } from '../src/bus/bus.js';
import { connectNatsBus, type NatsBus } from '../src/bus/nats/nats-bus.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from './support/nats-server.js';
import { randomId } from '../src/domain/ids.js';
import type { SessionEvent } from '../src/core/session-events.js';
import { agentConnected, gql as gqlAt, onlineRows, waitLinked, type Variables } from './support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { quietPeriod, waitFor } from './support/wait.js';

const LIVENESS_MS = 3000;
const HEARTBEAT_MS = 500;
const DEADLINE_MS = 2000;
const SEED = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node {
  id user { name } gateway { id agentConnected } confirmed } } } }`;

interface Row {
  id: string;
  user: { name: string };
  gateway: { id: string; agentConnected: boolean };
  confirmed: boolean;
}

test('switchboard agent without SWITCHBOARD_NATS_URL stops with a one-line message and exit code 2', async () => {
  const p = SwitchboardProcess.start('agent without NATS', ['agent'], {});
  await p.waitExited();
  assert.equal(p.exitCode, 2);
  assert.equal(
    p.output(),
    'switchboard: SWITCHBOARD_NATS_URL: required by switchboard agent (e.g. nats://nats.internal:4222)\n',
  );
});

const skip = openvpnSkipReason() || (await postgresSkipReason()) || (await natsSkipReason());

describe('many hosts: two gateways, two agents, two replicas, one PostgreSQL, NATS', { skip }, () => {
  const run = randomId(6); // gateway ids unique per run: the NATS server is shared
  const gw1 = `mh1-${run}`;
  const gw2 = `mh2-${run}`;
  const procs: SwitchboardProcess[] = [];
  const clients = new Map<string, LabClient>();
  const events: SessionEvent[] = [];
  let lab: OpenVpnLab;
  let servers: Record<string, LabServer>;
  let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  let sql: pg.Client;
  let watcher: NatsBus;
  let replicaA: SwitchboardProcess;
  let replicaB: SwitchboardProcess;
  let urlA = '';
  let urlB = '';
  let admin = '';

  const spawnProc = (name: string, args: string[], env: Record<string, string>) => {
    const p = SwitchboardProcess.start(name, args, {
      SWITCHBOARD_NATS_URL: TEST_NATS_URL,
      SWITCHBOARD_NATS_PREFIX: TEST_NATS_PREFIX,
      SWITCHBOARD_LOG_LEVEL: 'info',
      ...env,
    });
    procs.push(p);
    return p;
  };
  const startReplica = (name: string) =>
    spawnProc(name, ['start'], {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: db.url,
      SWITCHBOARD_GATEWAY_LIVENESS_MS: String(LIVENESS_MS),
      SWITCHBOARD_DISCONNECT_TIMEOUT_MS: String(DEADLINE_MS),
    });
  const startAgent = (gw: string) =>
    spawnProc(`agent ${gw}`, ['agent'], {
      SWITCHBOARD_CONFIG: join(lab.dir, `${gw}.yaml`),
      SWITCHBOARD_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
  const listening = async (p: SwitchboardProcess) =>
    (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;

  const gql = (url: string, query: string, variables?: Variables, token = admin) => gqlAt(url, token, query, variables);
  const rows = async (url: string, gw: string): Promise<Row[]> => {
    const r = await gql(url, SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };
  const users = async (url: string, gw: string) => (await rows(url, gw)).map((r) => r.user.name).sort();
  const running = (gw: string) =>
    [...clients.entries()]
      .filter(([k, c]) => k.startsWith(`${gw}/`) && !c.exited)
      .map(([k]) => k.split('/')[1]!)
      .sort();
  const sameUsers = (url: string, gw: string, expected: string[]) =>
    waitFor(
      async () => JSON.stringify(await users(url, gw)) === JSON.stringify(expected),
      15_000,
      `${gw} on ${url} lists ${expected.join(',')}`,
    );
  const rowOf = async (url: string, gw: string, user: string) => {
    const row = (await rows(url, gw)).find((r) => r.user.name === user);
    assert.ok(row, `${user} is listed on ${gw}`);
    return row;
  };
  const connect = async (gw: string, user: string) => {
    const c = await servers[gw]!.startClient({ user });
    clients.set(`${gw}/${user}`, c);
    return c;
  };
  const gatewayUp = (url: string, gw: string) => agentConnected((q) => gql(url, q), gw);
  /** Waits until `gw`'s agent holds its daemon's link (since `since`, after a restart of the agent). */
  const linked = (url: string, gw: string, since?: number) => waitLinked((q) => gql(url, q), gw, since);

  before(async () => {
    db = await createFreshPostgresDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    watcher = await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX });
    watcher.subscribe(subjects.sessionEvents, (e) => {
      const event = e as SessionEvent;
      if (event.session.gatewayId === gw1 || event.session.gatewayId === gw2) events.push(event);
    });
    lab = await OpenVpnLab.create();
    servers = {
      [gw1]: await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: `pw-${run}` }),
      [gw2]: await lab.startServer({ proto: 'tcp4', mode: 'authorize', managementPassword: `pw-${run}` }),
    };
    for (const [gw, server] of Object.entries(servers)) {
      writeFileSync(
        join(lab.dir, `${gw}.yaml`),
        JSON.stringify({
          gateways: [
            {
              id: gw,
              name: `Lab ${gw}`,
              region: 'lab',
              protocol: 'openvpn',
              mode: server.mode,
              management: server.management,
              managementPasswordFile: server.managementPasswordFile,
              snapshotIntervalSeconds: 1,
            },
          ],
        }),
      );
    }
    // Replica A first: it migrates the empty database and creates the bootstrap token.
    replicaA = startReplica('replica A');
    admin = (await replicaA.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    urlA = await listening(replicaA);
    replicaB = startReplica('replica B');
    urlB = await listening(replicaB);
    await Promise.all(
      [startAgent(gw1), startAgent(gw2)].map((p) => p.waitForOutput(/Switchboard agent agt_\w+ is reporting/)),
    );
    // Reporting is not linked: gateway 2 authorizes, and a CONNECT sent before its link would go unanswered.
    await Promise.all([gw1, gw2].map((gw) => linked(urlA, gw)));
    await Promise.all([connect(gw1, 'alice'), connect(gw1, 'bob'), connect(gw2, 'carol'), connect(gw2, 'dave')]);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.close();
    await watcher?.close();
    await sql?.end();
    await db?.drop();
  });

  test('every client appears in onlineSessions on both replicas, confirmed', async () => {
    for (const url of [urlA, urlB]) {
      await sameUsers(url, gw1, ['alice', 'bob']);
      await sameUsers(url, gw2, ['carol', 'dave']);
      for (const gw of [gw1, gw2]) {
        for (const row of await rows(url, gw))
          assert.deepEqual({ up: row.gateway.agentConnected, confirmed: row.confirmed }, { up: true, confirmed: true });
      }
    }
    assert.match(replicaA.output(), /"bus":"nats"/);
    assert.match(replicaA.output(), /"gateways":0/, 'with NATS, start runs no in-process agent');
  });

  test('disconnect on replica A ends exactly that client on gateway 2; replica B stops listing it', async (t) => {
    const carol = await rowOf(urlB, gw2, 'carol');
    const started = performance.now();
    const r = await gql(urlA, SEED, { id: carol.id });
    const latency = performance.now() - started;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { disconnectBySessionId: true });
    t.diagnostic(`disconnect through replica A -> NATS -> agent -> OpenVPN and back: ${latency.toFixed(1)} ms`);
    const client = clients.get(`${gw2}/carol`)!;
    await client.waitForLog(/server-pushed-halt|Halt command was pushed by server/, { timeoutMs: 5000 });
    await client.waitExited(10_000);
    await sameUsers(urlB, gw2, ['dave']);
    assert.ok(
      !clients.get(`${gw2}/dave`)!.exited && !clients.get(`${gw1}/alice`)!.exited,
      'the other clients keep running',
    );
    await sameUsers(urlB, gw1, ['alice', 'bob']);
  });

  test('each session is stored once and announced once on NATS, with two replicas applying every report', async () => {
    await quietPeriod(1500); // past a periodic snapshot: a late duplicate would show
    const stored = await sql.query<{ user_name: string; n: string }>(
      'select user_name, count(*) as n from sessions where gateway_id = any($1) group by user_name order by user_name',
      [[gw1, gw2]],
    );
    assert.deepEqual(
      stored.rows.map((r) => [r.user_name, Number(r.n)]),
      [
        ['alice', 1],
        ['bob', 1],
        ['carol', 1],
        ['dave', 1],
      ],
    );
    const connected = events
      .filter((e) => e.type === 'session.connected')
      .map((e) => e.session.userName)
      .sort();
    assert.deepEqual(connected, ['alice', 'bob', 'carol', 'dave']);
    const ended = events.filter((e) => e.type === 'session.disconnected');
    assert.deepEqual(
      ended.map((e) => [e.session.userName, e.cause, e.actor?.name]),
      [['carol', 'ADMIN_DISCONNECT', 'bootstrap-admin']],
    );
  });

  test('a token revoked through replica A is rejected by replica B at once', async () => {
    const created = await gql(
      urlA,
      'mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret token { id } } }',
      { in: { name: 'reader', scopes: ['sessions:read'] } },
    );
    const { secret, token } = created.json.data!.createToken as { secret: string; token: { id: string } };
    assert.equal((await gql(urlB, SESSIONS, { gw: gw1 }, secret)).status, 200);
    const revoked = await gql(urlA, 'mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: token.id });
    assert.equal(revoked.status, 200, revoked.text);
    const refused = await gql(urlB, SESSIONS, { gw: gw1 }, secret);
    assert.equal(refused.status, 401, refused.text);
  });

  test('replica A dies in a burst of connects and quits: replica B serves on and its store matches the daemons', async () => {
    const burst = [connect(gw1, 'erin'), connect(gw2, 'frank'), connect(gw2, 'gina'), connect(gw1, 'hank')];
    await new Promise((r) => setTimeout(r, 100));
    replicaA.kill('SIGKILL');
    await replicaA.waitExited();
    await Promise.all(burst);
    await clients.get(`${gw2}/gina`)!.stop();
    await clients.get(`${gw1}/bob`)!.stop();
    await connect(gw2, 'ivan'); // after A is gone
    await sameUsers(urlB, gw1, running(gw1));
    await sameUsers(urlB, gw2, running(gw2));
    assert.deepEqual(running(gw1), ['alice', 'erin', 'hank']);
    assert.deepEqual(running(gw2), ['dave', 'frank', 'ivan']);

    const erin = await rowOf(urlB, gw1, 'erin');
    const r = await gql(urlB, SEED, { id: erin.id });
    assert.deepEqual(r.json.data, { disconnectBySessionId: true }, r.text);
    await clients.get(`${gw1}/erin`)!.waitExited(10_000);
    await sameUsers(urlB, gw1, ['alice', 'hank']);
  });

  test('agent 1 dies: gateway 1 turns not connected, its sessions unconfirmed, a disconnect answers GATEWAY_UNAVAILABLE', async (t) => {
    const agent1 = procs.find((p) => p.name === `agent ${gw1}` && p.running)!;
    agent1.kill('SIGKILL');
    const killed = performance.now();
    await agent1.waitExited();
    await waitFor(async () => (await gatewayUp(urlB, gw1)) === false, LIVENESS_MS * 4, 'gateway 1 shown not connected');
    t.diagnostic(
      `dead agent detected after ${(performance.now() - killed).toFixed(0)} ms (liveness ${LIVENESS_MS} ms, heartbeat ${HEARTBEAT_MS} ms)`,
    );
    assert.equal(await gatewayUp(urlB, gw2), true, 'gateway 2 is unaffected');

    const listed = await rows(urlB, gw1);
    assert.deepEqual(
      listed.map((r) => [r.user.name, r.confirmed]).sort(),
      [
        ['alice', false],
        ['hank', false],
      ],
      'still listed, unconfirmed',
    );
    assert.ok((await rows(urlB, gw2)).every((r) => r.confirmed));

    const alice = listed.find((r) => r.user.name === 'alice')!;
    const started = performance.now();
    const r = await gql(urlB, SEED, { id: alice.id });
    t.diagnostic(
      `disconnect on a gateway without agent answered in ${(performance.now() - started).toFixed(1)} ms (deadline ${DEADLINE_MS} ms)`,
    );
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.errors?.[0]?.extensions?.code, 'GATEWAY_UNAVAILABLE');
    assert.ok(!clients.get(`${gw1}/alice`)!.exited, 'nothing reached the daemon');
  });

  test('agent 1 returns: its snapshot reconciles (sessions confirmed again, a client that quit meanwhile is ended)', async () => {
    const alice = await rowOf(urlB, gw1, 'alice');
    await clients.get(`${gw1}/hank`)!.stop(); // quits while nobody watches gateway 1
    const restarted = Date.now();
    await startAgent(gw1).waitForOutput(/Switchboard agent agt_\w+ is reporting/);
    await linked(urlB, gw1, restarted);
    await sameUsers(urlB, gw1, ['alice']);
    const again = await rowOf(urlB, gw1, 'alice');
    assert.equal(again.id, alice.id, 'same daemon session, same id');
    assert.equal(again.confirmed, true);
    const hank = await sql.query<{ end_cause: string | null }>(
      'select end_cause from sessions where gateway_id = $1 and user_name = $2',
      [gw1, 'hank'],
    );
    assert.deepEqual(hank.rows, [{ end_cause: 'CLIENT_DISCONNECT' }]);

    const r = await gql(urlB, SEED, { id: alice.id });
    assert.deepEqual(r.json.data, { disconnectBySessionId: true }, r.text);
    await clients.get(`${gw1}/alice`)!.waitExited(10_000);
  });

  test('replica A dead, agent 2 killed and started again: replica B alone sends it its blocks, a blocked user stays out', async () => {
    // A block in force at agent 2 as it runs now (gateway 2 authorizes its clients).
    const dave = await rowOf(urlB, gw2, 'dave');
    const others = (await users(urlB, gw2)).filter((u) => u !== 'dave');
    const r = await gql(
      urlB,
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: RESTART, blockSeconds: 600 }) { outcome } }',
      { id: dave.id },
    );
    assert.equal(r.status, 200, r.text);
    await clients.get(`${gw2}/dave`)!.waitForLog(/AUTH_FAILED/, { timeoutMs: 15_000 });

    // A new agent run knows no block until a replica sends the list: the first snapshot of a run is
    // answered by every replica alive, here B alone.
    const agent2 = procs.find((p) => p.name === `agent ${gw2}` && p.running)!;
    agent2.kill('SIGKILL');
    await agent2.waitExited();
    // The killed agent's status reads connected until its liveness runs out: only a link up since counts.
    const restarted = Date.now();
    await startAgent(gw2).waitForOutput(/Switchboard agent agt_\w+ is reporting/);
    await linked(urlB, gw2, restarted);
    const again = await servers[gw2]!.startClient({ user: 'dave', waitConnected: false });
    clients.set(`${gw2}/dave-again`, again);
    await again.waitForLog(/AUTH_FAILED/, { timeoutMs: 20_000 });
    assert.ok(!(await users(urlB, gw2)).includes('dave'), 'dave not admitted while blocked');
    await sameUsers(urlB, gw2, others);
  });
});
