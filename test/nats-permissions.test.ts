/**
 * The per-agent NATS permissions that docs/many-hosts.md shows, run as written on a nats-server of
 * this test's own: an agent's credentials publish only its own gateway's report subject and serve only
 * its own gateway's disconnect subject, and a report it forges on its own subject, naming another
 * gateway in its body, is dropped by a real `switchboard start` process (warned, counted, harmless).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusTimeoutError, subjects } from '../src/bus/bus.js';
import { connectNatsBus, type NatsBus } from '../src/bus/nats/nats-bus.js';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { AgentLink } from '../src/core/agent-link.js';
import { silentLogger } from '../src/domain/logger.js';
import { WIRE_VERSION } from '../src/core/reports.js';
import { apiClient } from './support/api-client.js';
import { waitFor } from './support/wait.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { sessionReport } from './support/session-report.js';

const PREFIX = 'acme';
const PASSWORD = (user: string) => `pw-${user}-7f3k`;

/** The server configuration block of docs/many-hosts.md, with test passwords and a second agent like the first. */
function documentedConfig(): string {
  const doc = readFileSync(new URL('../docs/many-hosts.md', import.meta.url), 'utf8');
  const block = /```\n(# \/etc\/nats\/switchboard\.conf[^\n]*\n[\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/many-hosts.md shows the server configuration');
  assert.match(block, new RegExp(`SWITCHBOARD_NATS_PREFIX=${PREFIX}`), 'for the prefix this test uses');
  const agent = /\n(\s*\{ user: agent-fra-1,[\s\S]*?\n\s{4}\}\n)/.exec(block)?.[1];
  assert.ok(agent, 'the example has an agent user');
  const config = block.replace(agent, agent + agent.replaceAll('fra-1', 'fra-2'));
  return config.replace(
    /\{ user: ([\w-]+), password: "[^"]*"/g,
    (_m, user: string) => `{ user: ${user}, password: "${PASSWORD(user)}"`,
  );
}

/** pino's JSON lines at error level (50) or above. */
function errorLines(p: SwitchboardProcess): Array<Record<string, unknown>> {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => Number(l.level) >= 50);
}

describe('per-agent NATS permissions, as documented', { skip: natsServerSkipReason() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nats-perm-'));
  let server: TestNatsServer;
  const buses: NatsBus[] = [];
  const procs: SwitchboardProcess[] = [];
  const links: AgentLink[] = [];
  const connectAs = async (user: string) => {
    const bus = await connectNatsBus({ url: server.url, user, pass: PASSWORD(user), prefix: PREFIX, name: user });
    buses.push(bus);
    return bus;
  };

  before(async () => {
    const path = join(dir, 'nats.conf');
    writeFileSync(path, documentedConfig());
    server = await startNatsServer(['-c', path]); // its own port: the flags override the file's `listen`
  });

  after(async () => {
    await Promise.all(links.map((l) => l.stop()));
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(buses.map((b) => b.close()));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an agent publishes only on its own gateway's report subject", async () => {
    const control = await connectAs('control-plane');
    const agent = await connectAs('agent-fra-1');
    const seen: Array<[string, unknown]> = [];
    const off = control.subscribe('>', (data, subject) => void seen.push([subject, data]));
    await control.request('nothing.here', null, { timeoutMs: 2000 }).catch(() => {}); // the subscription is in place
    await agent.publish(subjects.gatewayReport('fra-2'), { n: 1 });
    await agent.publish(subjects.sessionEvents, { n: 2 });
    await agent.publish(subjects.gatewayDisconnect('fra-2'), { n: 3 });
    await agent.publish(subjects.tokenRevoked, { n: 4 });
    await agent.publish(subjects.gatewayReport('fra-1'), { n: 5 });
    // One connection's messages arrive in order: once the last is here, the refused ones would have been too.
    await waitFor(
      () => seen.some(([, d]) => (d as { n?: number } | null)?.n === 5),
      5000,
      'the allowed report arrives',
    );
    off();
    assert.deepEqual(
      seen.filter(([s]) => s !== 'nothing.here'),
      [['gateway.fra-1.report', { n: 5 }]],
    );
  });

  test("an agent serves only its own gateway's disconnect subject, and hears nothing else", async () => {
    const control = await connectAs('control-plane');
    const agent = await connectAs('agent-fra-1');
    const overheard: string[] = [];
    agent.serve(subjects.gatewayDisconnect('fra-2'), async () => ({ stolen: true }));
    agent.subscribe(subjects.gatewayReport('fra-2'), (_d, s) => void overheard.push(s));
    agent.subscribe(subjects.sessionEvents, (_d, s) => void overheard.push(s));
    const hellos: unknown[] = [];
    agent.subscribe(subjects.replicaHello, (d) => void hellos.push(d));
    agent.serve(subjects.gatewayDisconnect('fra-1'), async () => ({ served: 'fra-1' }));
    // Served in the order subscribed: an answer on fra-1 means the server has dealt with the others.
    assert.deepEqual(
      await waitFor(
        () => control.request(subjects.gatewayDisconnect('fra-1'), {}, { timeoutMs: 1000 }).catch(() => null),
        5000,
        'fra-1 served',
      ),
      { served: 'fra-1' },
    );
    const refused = await control
      .request(subjects.gatewayDisconnect('fra-2'), {}, { timeoutMs: 2000 })
      .catch((e: unknown) => e);
    assert.ok(refused instanceof BusTimeoutError && refused.noResponders, `nobody serves fra-2: ${String(refused)}`);
    await control.publish(subjects.gatewayReport('fra-2'), { n: 1 });
    await control.publish(subjects.sessionEvents, { n: 2 });
    await control.publish(subjects.replicaHello, { n: 3 });
    assert.deepEqual(await control.request(subjects.gatewayDisconnect('fra-1'), {}, { timeoutMs: 2000 }), {
      served: 'fra-1',
    });
    assert.deepEqual(overheard, [], "the agent received none of the other gateway's or the deployment's messages");
    assert.deepEqual(hellos, [{ n: 3 }], "but it hears the replicas' hellos");
  });

  test("a report forged on the agent's own subject, naming another gateway, is dropped by a real replica", async () => {
    const replica = SwitchboardProcess.start('replica', ['start'], {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: join(dir, 'replica.db'),
      SWITCHBOARD_LOG_LEVEL: 'info',
      SWITCHBOARD_NATS_URL: server.url,
      SWITCHBOARD_NATS_USER: 'control-plane',
      SWITCHBOARD_NATS_PASSWORD: PASSWORD('control-plane'),
      SWITCHBOARD_NATS_PREFIX: PREFIX,
    });
    procs.push(replica);
    const admin = (await replica.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    const url = (await replica.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const gql = apiClient(url, admin);
    const state = async () => {
      const r = await gql(
        '{ gateways { id rejectedReports } onlineSessions(first: 100) { edges { node { user { name } gateway { id } } } } }',
      );
      assert.equal(r.status, 200, r.text);
      const data = r.json.data as {
        gateways: { id: string; rejectedReports: number }[];
        onlineSessions: { edges: { node: { user: { name: string }; gateway: { id: string } } }[] };
      };
      return {
        rejected: Object.fromEntries(data.gateways.map((g) => [g.id, g.rejectedReports])),
        sessions: data.onlineSessions.edges.map((e) => `${e.node.gateway.id}/${e.node.user.name}`).sort(),
      };
    };

    const gateways = { 'fra-1': new FakeAdapter({ id: 'fra-1' }), 'fra-2': new FakeAdapter({ id: 'fra-2' }) };
    gateways['fra-1'].connect('alice');
    gateways['fra-2'].connect('carol');
    gateways['fra-2'].connect('dave');
    const agentBuses: Record<string, NatsBus> = {};
    for (const [id, adapter] of Object.entries(gateways)) {
      agentBuses[id] = await connectAs(`agent-${id}`);
      const link = new AgentLink({ bus: agentBuses[id], adapters: [adapter], logger: silentLogger, heartbeatMs: 500 });
      links.push(link);
      link.start();
    }
    const genuine = ['fra-1/alice', 'fra-2/carol', 'fra-2/dave'];
    await waitFor(
      async () => JSON.stringify((await state()).sessions) === JSON.stringify(genuine),
      15_000,
      'the genuine sessions listed',
    );

    // With its own, correctly permissioned credentials, fra-1's agent reports an empty gateway "fra-2" plus a fake session.
    await agentBuses['fra-1']!.publish(subjects.gatewayReport('fra-1'), {
      version: WIRE_VERSION,
      type: 'snapshot',
      gatewayId: 'fra-2',
      agentId: 'agt_forger',
      seq: 1,
      at: Date.now(),
      gateway: { name: 'forged', region: 'x', protocol: 'openvpn', mode: 'observe' },
      daemonStartedAt: 1,
      sessions: [sessionReport({ ref: 'forged:1', userName: 'mallory', commonName: 'mallory' })],
    });
    await waitFor(async () => (await state()).rejected['fra-1'] === 1, 10_000, 'the forged report counted on fra-1');
    const after = await state();
    assert.deepEqual(after.sessions, genuine, 'fra-2 keeps its sessions and no fake session is listed');
    assert.deepEqual(after.rejected, { 'fra-1': 1, 'fra-2': 0 });
    const warn = replica
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'gateway report names another gateway than its subject; dropped');
    assert.ok(warn, replica.tail());
    assert.deepEqual([warn.level, warn.gatewayId, warn.claimedGatewayId], [40, 'fra-1', 'fra-2']);

    // fra-2's agent is replaced by one speaking a wire version this replica does not: loud, not silent.
    await links[1]!.stop();
    for (const seq of [1, 2]) {
      await agentBuses['fra-2']!.publish(subjects.gatewayReport('fra-2'), {
        version: WIRE_VERSION + 1,
        type: 'heartbeat',
        gatewayId: 'fra-2',
        agentId: 'agt_next',
        seq,
        at: Date.now(),
        gateway: { name: 'fra-2', region: 'x', protocol: 'openvpn', mode: 'observe' },
        linkUp: true,
      });
    }
    const degraded = async () => {
      const r = await gql('{ gateways { id degradedReason rejectedReports } }');
      return (
        r.json.data as { gateways: { id: string; degradedReason: string | null; rejectedReports: number }[] }
      ).gateways.find((g) => g.id === 'fra-2')!;
    };
    const view = await waitFor(
      async () => {
        const g = await degraded();
        return g.rejectedReports === 2 ? g : null;
      },
      10_000,
      'fra-2 degraded',
    );
    assert.ok(
      (view.degradedReason ?? '').includes(
        `different wire version (wire version ${WIRE_VERSION + 1}, this build speaks ${WIRE_VERSION})`,
      ),
      String(view.degradedReason),
    );
    assert.equal(
      errorLines(replica).filter((l) => /gateway degraded/.test(String(l.msg))).length,
      1,
      'one error line for the two refused reports',
    );
  });
});
