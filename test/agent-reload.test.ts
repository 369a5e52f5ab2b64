/**
 * SIGHUP reloads the gateway file of a running `switchboard agent` (real processes: a `switchboard
 * start` control plane and an agent over NATS, two real OpenVPN daemons with a real client each):
 * adding gateway B lists B's client; removing A ends A's session as GATEWAY_REMOVED while B's stays;
 * an invalid file changes nothing and logs one error line. Every step is in the audit trail
 * (`gateway.reload`, one row per gateway, told by the agent over the bus); the agent never restarts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomId } from '../src/domain/ids.js';
import { openStore } from '../src/store/kysely/kysely-store.js';
import { agentConnected, apiClient, gql as gqlAt } from './support/api-client.js';
import { startAgentOverNats, type AgentOverNats } from './support/agent-over-nats.js';
import { natsSkipReason } from './support/nats-server.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import type { SwitchboardProcess } from './support/switchboard-process.js';
import { waitFor } from './support/wait.js';

const skip = openvpnSkipReason() || (await natsSkipReason());
const ONLINE = 'query { onlineSessions(first: 50) { edges { node { id user { name } gateway { id } } } } }';
const AUDIT =
  'query { auditEvents(first: 20, filter: { action: "gateway.reload" }) { edges { node { outcome errorCode target { gatewayId } metadata } } } }';

interface Online {
  id: string;
  user: { name: string };
  gateway: { id: string };
}
interface Reload {
  outcome: string;
  errorCode: string | null;
  target: { gatewayId: string | null };
  metadata: string;
}

describe('SIGHUP reloads the gateway file of switchboard agent', { skip, timeout: 180_000 }, () => {
  const run = randomId(6); // the NATS server is shared: unique subjects and gateway ids
  const gwA = `ar-a-${run}`;
  const gwB = `ar-b-${run}`;
  let lab: OpenVpnLab;
  let a: LabServer;
  let b: LabServer;
  let control: SwitchboardProcess;
  let agent: SwitchboardProcess;
  let stack: AgentOverNats | undefined;
  let url: string;
  let token: string;
  let configFile: string;
  let dbPath: string;

  const entry = (id: string, s: LabServer) => ({
    id,
    name: `Agent reload ${id}`,
    region: 'lab',
    protocol: 'openvpn',
    mode: 'observe',
    management: s.management,
    managementPasswordFile: s.managementPasswordFile,
  });
  const call = (query: string) => apiClient(url, token)(query);
  async function gql<T>(query: string): Promise<T> {
    return (await gqlAt(url, token, query)).json.data as T;
  }
  async function online(): Promise<Online[]> {
    return (await gql<{ onlineSessions: { edges: { node: Online }[] } }>(ONLINE)).onlineSessions.edges.map(
      (e) => e.node,
    );
  }
  async function reloads(): Promise<Reload[]> {
    return (await gql<{ auditEvents: { edges: { node: Reload }[] } }>(AUDIT)).auditEvents.edges.map((e) => e.node);
  }
  /** The audit row of one reload step of one gateway, once a replica recorded it. */
  async function reloadRow(
    gatewayId: string,
    match: (r: Reload, metadata: Record<string, unknown>) => boolean,
    what: string,
  ): Promise<Reload> {
    return waitFor(
      async () =>
        (await reloads()).find(
          (r) => r.target.gatewayId === gatewayId && match(r, JSON.parse(r.metadata) as Record<string, unknown>),
        ),
      20_000,
      what,
    );
  }
  const errorLines = () =>
    agent
      .output()
      .split('\n')
      .filter((l) => l.includes('gateway file not reloaded')).length;

  before(async () => {
    lab = await OpenVpnLab.create();
    a = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'agent-reload-a-pw' });
    b = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'agent-reload-b-pw' });
    await Promise.all([a.startClient({ user: 'alice' }), b.startClient({ user: 'bob' })]);
    configFile = join(lab.dir, 'gateways.json');
    writeFileSync(configFile, JSON.stringify({ gateways: [entry(gwA, a)] }));
    stack = await startAgentOverNats({
      dir: lab.dir,
      gatewayFile: configFile,
      gatewayId: gwA,
      prefix: `agentreload${run}`,
      // An hour: a gateway the agent stopped serving reads down only because the agent said so.
      controlEnv: { SWITCHBOARD_GATEWAY_LIVENESS_MS: '3600000' },
    });
    ({ url, admin: token, control, agent, databasePath: dbPath } = stack);
  });
  after(async () => {
    await stack?.close();
    await lab?.close();
  });

  test("adding gateway B: B's client is listed, A stays, the addition is audited", async () => {
    await waitFor(
      async () => (await online()).some((s) => s.user.name === 'alice' && s.gateway.id === gwA),
      30_000,
      'alice on A',
    );
    writeFileSync(configFile, JSON.stringify({ gateways: [entry(gwA, a), entry(gwB, b)] }));
    agent.kill('SIGHUP');
    await waitFor(
      async () => (await online()).some((s) => s.user.name === 'bob' && s.gateway.id === gwB),
      30_000,
      'bob on B',
    );
    const row = await reloadRow(
      gwB,
      (_r, m) => Array.isArray(m.added) && m.added.includes(gwB),
      'the addition of B audited',
    );
    assert.equal(row.outcome, 'SUCCESS');
    assert.match(String(JSON.parse(row.metadata).agentId), /^agt_/, 'the row names the agent that reloaded');
    assert.ok(
      (await online()).some((s) => s.user.name === 'alice' && s.gateway.id === gwA),
      'alice still on A',
    );
    assert.equal(agent.running, true, 'the same agent process serves on');
  });

  test("removing gateway A: A's session ends as GATEWAY_REMOVED, B's stays, audited once", async () => {
    const alice = (await online()).find((s) => s.user.name === 'alice' && s.gateway.id === gwA);
    assert.ok(alice, 'alice listed on A before the reload');
    writeFileSync(configFile, JSON.stringify({ gateways: [entry(gwB, b)] }));
    agent.kill('SIGHUP');
    await waitFor(async () => !(await online()).some((s) => s.id === alice.id), 20_000, 'alice no longer listed');
    const row = await reloadRow(
      gwA,
      (_r, m) => Array.isArray(m.removed) && m.removed.includes(gwA),
      'the removal of A audited',
    );
    assert.equal(row.outcome, 'SUCCESS');
    assert.equal(
      (await reloads()).filter((r) => r.target.gatewayId === gwA && JSON.parse(r.metadata).removed?.includes(gwA))
        .length,
      1,
      'one row for the removal',
    );
    assert.ok(
      (await online()).some((s) => s.user.name === 'bob' && s.gateway.id === gwB),
      'bob still on B',
    );
    await waitFor(
      () =>
        stack!.events.some(
          (e) => e.type === 'session.disconnected' && e.session.id === alice.id && e.cause === 'GATEWAY_REMOVED',
        ),
      10_000,
      "alice's end announced on NATS",
    );
    await waitFor(
      async () => (await agentConnected(call, gwA)) === false,
      20_000,
      "A's link shown down at once (the agent told it; the liveness window is an hour)",
    );
    assert.equal(await agentConnected(call, gwB), true, "B's link stays up");
    const store = await openStore(dbPath);
    try {
      assert.equal((await store.sessions.findById(alice.id))?.endCause, 'GATEWAY_REMOVED');
    } finally {
      await store.close();
    }
  });

  test('an invalid file changes nothing: one error line, audited as refused, B stays and A stays gone', async () => {
    const before = errorLines();
    writeFileSync(configFile, '{ "gateways": [ { "id": "no such shape" } ] }');
    agent.kill('SIGHUP');
    await agent.waitForOutput(/gateway file not reloaded/);
    const row = await reloadRow(gwB, (r) => r.outcome === 'FAILED', 'the refused reload audited');
    assert.equal(row.errorCode, 'BAD_CONFIG');
    assert.equal(errorLines() - before, 1, 'one error line');
    assert.equal(agent.running, true);
    const rows = await online();
    assert.ok(
      rows.some((s) => s.user.name === 'bob' && s.gateway.id === gwB),
      'bob still on B',
    );
    assert.ok(!rows.some((s) => s.gateway.id === gwA), 'nothing on A');
    assert.doesNotMatch(
      agent.output() + control.output(),
      /agent-reload-a-pw|agent-reload-b-pw/,
      'no daemon password in any output',
    );
  });
});
