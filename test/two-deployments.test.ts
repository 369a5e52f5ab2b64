/**
 * Two deployments on the one NATS server, told apart only by SWITCHBOARD_NATS_PREFIX: each a real
 * `switchboard start` process with its own database and an agent (AgentLink on its own NATS
 * connection) for a gateway with the SAME id in both. Neither sees anything of the other: gateways,
 * sessions, disconnects, events. Then the same with real processes on both sides: two replica stacks
 * (two replicas on PostgreSQL, a `switchboard agent`, a real OpenVPN daemon each) on a nats-server of
 * this file's own, the same gateway id in both.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { subjects } from '../src/bus/bus.js';
import { connectNatsBus, type NatsBus } from '../src/bus/nats/nats-bus.js';
import {
  natsServerSkipReason,
  natsSkipReason,
  startNatsServer,
  TEST_NATS_URL,
  type TestNatsServer,
} from './support/nats-server.js';
import { ONLINE_SESSIONS, onlineRows } from './support/api-client.js';
import { openvpnSkipReason, type LabClient } from './support/openvpn-lab.js';
import { postgresSkipReason } from './support/postgres.js';
import { startReplicaStack, type ReplicaStack } from './support/replica-stack.js';
import { AgentLink } from '../src/core/agent-link.js';
import { silentLogger } from '../src/domain/logger.js';
import type { SessionEvent } from '../src/core/session-events.js';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt, type Variables } from './support/api-client.js';
import { quietPeriod, waitFor } from './support/wait.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { SwitchboardProcess } from './support/switchboard-process.js';

interface Stack {
  prefix: string;
  process: SwitchboardProcess;
  url: string;
  admin: string;
  adapter: FakeAdapter;
  link: AgentLink;
  agentBus: NatsBus;
  watcher: NatsBus;
  events: SessionEvent[];
}

describe('two deployments on one NATS with different prefixes', { skip: await natsSkipReason() }, () => {
  const run = randomId(6);
  const gatewayId = `shared-${run}`; // the same gateway id in both deployments
  const dir = mkdtempSync(join(tmpdir(), 'two-deployments-'));
  const stacks: Record<'a' | 'b', Stack> = {} as Record<'a' | 'b', Stack>;

  const gql = (s: Stack, query: string, variables?: Variables) => gqlAt(s.url, s.admin, query, variables);
  const listed = async (s: Stack) => {
    const r = await gql(
      s,
      '{ gateways { id name } onlineSessions(first: 100) { edges { node { id user { name } gateway { id } } } } }',
    );
    assert.equal(r.status, 200, r.text);
    const data = r.json.data as {
      gateways: { id: string; name: string }[];
      onlineSessions: { edges: { node: { id: string; user: { name: string }; gateway: { id: string } } }[] };
    };
    return {
      gateways: data.gateways.map((g) => `${g.id}:${g.name}`),
      sessions: data.onlineSessions.edges.map((e) => ({ id: e.node.id, user: e.node.user.name })),
    };
  };

  const startStack = async (name: 'a' | 'b', user: string): Promise<Stack> => {
    const prefix = `dep-${name}-${run}`;
    const watcher = await connectNatsBus({ url: TEST_NATS_URL, prefix, name: `watcher ${name}` });
    const events: SessionEvent[] = [];
    watcher.subscribe(subjects.sessionEvents, (e) => void events.push(e as SessionEvent));
    const process = SwitchboardProcess.start(`deployment ${name}`, ['start'], {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: join(dir, `${name}.db`),
      SWITCHBOARD_NATS_URL: TEST_NATS_URL,
      SWITCHBOARD_NATS_PREFIX: prefix,
      SWITCHBOARD_LOG_LEVEL: 'info',
      SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '2000',
    });
    const admin = (await process.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    const url = (await process.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const adapter = new FakeAdapter({ id: gatewayId, name: `Gateway of ${name}` });
    adapter.connect(user);
    const agentBus = await connectNatsBus({ url: TEST_NATS_URL, prefix, name: `agent ${name}` });
    const link = new AgentLink({ bus: agentBus, adapters: [adapter], logger: silentLogger, heartbeatMs: 500 });
    link.start();
    return { prefix, process, url, admin, adapter, link, agentBus, watcher, events };
  };

  before(async () => {
    stacks.a = await startStack('a', 'alice');
    stacks.b = await startStack('b', 'bob');
  });

  after(async () => {
    for (const s of Object.values(stacks)) {
      await s.link.stop();
      await s.process.stop();
      await s.agentBus.close();
      await s.watcher.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('each lists only its own gateway and sessions, though the gateway ids are the same', async () => {
    await waitFor(
      async () => (await listed(stacks.a)).sessions.length === 1 && (await listed(stacks.b)).sessions.length === 1,
      15_000,
      'each lists its session',
    );
    // A heartbeat of the other deployment's agent would rename the gateway: a few of them have passed.
    await waitFor(() => stacks.a.events.length > 0 && stacks.b.events.length > 0, 5000, 'each announced its connect');
    const [a, b] = [await listed(stacks.a), await listed(stacks.b)];
    assert.deepEqual(a.gateways, [`${gatewayId}:Gateway of a`]);
    assert.deepEqual(b.gateways, [`${gatewayId}:Gateway of b`]);
    assert.deepEqual(
      a.sessions.map((s) => s.user),
      ['alice'],
    );
    assert.deepEqual(
      b.sessions.map((s) => s.user),
      ['bob'],
    );
  });

  test('a disconnect through one reaches only its own agent; the other keeps its session; events stay in their deployment', async () => {
    const alice = (await listed(stacks.a)).sessions[0]!;
    const r = await gql(stacks.a, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: alice.id,
    });
    assert.deepEqual(r.json.data, { disconnectBySessionId: true }, r.text);
    assert.deepEqual(
      stacks.a.adapter.commands.map((c) => c.userName),
      ['alice'],
    );
    assert.deepEqual(stacks.b.adapter.commands, [], "deployment b's agent got no request");
    await waitFor(
      () => stacks.a.events.some((e) => e.type === 'session.disconnected'),
      5000,
      'a announced the disconnect',
    );

    // B's own disconnect of its own session: its agent, not A's, answers.
    const bob = (await listed(stacks.b)).sessions[0]!;
    assert.deepEqual(
      (await listed(stacks.b)).sessions.map((s) => s.user),
      ['bob'],
      'b still lists bob',
    );
    const other = await gql(stacks.b, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: alice.id,
    });
    assert.equal(other.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND', "a's session id means nothing to b");
    const rb = await gql(stacks.b, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: bob.id,
    });
    assert.deepEqual(rb.json.data, { disconnectBySessionId: true }, rb.text);
    assert.deepEqual(
      stacks.a.adapter.commands.map((c) => c.userName),
      ['alice'],
      "a's agent got nothing more",
    );
    await waitFor(
      () => stacks.b.events.some((e) => e.type === 'session.disconnected'),
      5000,
      'b announced its disconnect',
    );

    const seen = (s: Stack) => s.events.map((e) => `${e.type}:${e.session.userName}`);
    assert.deepEqual(seen(stacks.a), ['session.connected:alice', 'session.disconnected:alice']);
    assert.deepEqual(seen(stacks.b), ['session.connected:bob', 'session.disconnected:bob']);
  });
});

describe(
  'two deployments with real agents and OpenVPN daemons on a private nats-server, different prefixes',
  { skip: openvpnSkipReason() || (await postgresSkipReason()) || natsServerSkipReason(), timeout: 180_000 },
  () => {
    const gatewayId = `same-${randomId(6)}`; // the same gateway id in both deployments
    let nats: TestNatsServer;
    const stacks: ReplicaStack[] = [];
    const clients: LabClient[] = [];

    before(async () => {
      nats = await startNatsServer();
      // One after the other: each stack is two replicas, an agent and a daemon on a loaded machine.
      for (const name of ['depa', 'depb']) {
        const stack = await startReplicaStack({ name, natsUrl: nats.url, gatewayId, snapshotIntervalSeconds: 2 });
        stacks.push(stack);
        clients.push(await stack.server.startClient({ user: `${name}-user` }));
      }
    });

    after(async () => {
      await Promise.all(stacks.map((s) => s.close()));
      await nats?.stop();
    });

    test("one's disconnect, heartbeats, snapshots and events never reach or alter the other's record", async () => {
      const [a, b] = stacks as [ReplicaStack, ReplicaStack];
      const online = async (s: ReplicaStack, url: string) =>
        onlineRows(await s.gql(url, ONLINE_SESSIONS, { gw: gatewayId })).map((r) => ({ id: r.id, user: r.user.name }));
      const own = async (s: ReplicaStack, user: string) =>
        waitFor(
          async () => {
            const rows = [...(await online(s, s.urlA)), ...(await online(s, s.urlB))];
            return rows.length === 2 && rows.every((r) => r.user === user) ? rows[0]! : null;
          },
          30_000,
          `${user} listed by both replicas of its deployment, alone`,
        );
      const sa = await own(a, 'depa-user');
      const sb = await own(b, 'depb-user');
      const recordOf = async (s: ReplicaStack) => ({
        gateways: (await s.sql.query('SELECT id, name FROM gateways ORDER BY id')).rows,
        sessions: (await s.sql.query('SELECT id, user_name, ended_at FROM sessions ORDER BY id')).rows,
        intents: (await s.sql.query('SELECT session_id, status FROM disconnect_intents')).rows,
        audit: (await s.sql.query("SELECT target_session_id FROM audit_events WHERE action = 'session.disconnect'"))
          .rows,
        events: (await s.sql.query('SELECT type FROM event_outbox ORDER BY type')).rows,
      });
      const beforeB = await recordOf(b);
      assert.deepEqual(beforeB.gateways, [{ id: gatewayId, name: 'depb lab' }]);

      const r = await a.gql(
        a.urlA,
        'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "deployment a" }) { outcome } }',
        { id: sa.id },
      );
      assert.deepEqual(r.data, { disconnectSession: { outcome: 'DISCONNECTED' } }, JSON.stringify(r));
      await clients[0]!.waitExited(20_000);
      // Several heartbeats and periodic snapshots of both agents pass (2 s each).
      await quietPeriod(6000);
      assert.equal(clients[1]!.exited, false, "b's client was not killed");
      assert.deepEqual(
        await recordOf(b),
        beforeB,
        "b's record is as it was: its gateway, session, intents, audit, events",
      );
      assert.deepEqual(await online(b, b.urlA), [sb]);
      assert.deepEqual(
        (await a.sql.query('SELECT name FROM gateways')).rows,
        [{ name: 'depa lab' }],
        "a's gateway keeps its own name",
      );
      const ended = (await a.sql.query('SELECT end_cause FROM sessions WHERE id = $1', [sa.id])).rows;
      assert.deepEqual(ended, [{ end_cause: 'ADMIN_DISCONNECT' }]);
    });
  },
);
