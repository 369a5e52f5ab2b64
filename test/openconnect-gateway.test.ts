/**
 * Issue "OpenConnect gateways (ocserv)", end to end: the whole Switchboard (store, bus, sync,
 * in-process agent, HTTP API) attached over occtl to a REAL ocserv, with REAL openconnect clients
 * (password auth), each in a network namespace of its own passing real traffic through its tunnel.
 * The gateway runs in authorize mode: blocks go to a block file that ocserv's connect-script (the
 * shipped bin/switchboard-ocserv-connect) reads. Nothing here is a test double.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OcctlClient, processRunner } from '../src/gateways/openconnect/occtl-client.js';
import { OcservLab, ocservSkipReason, type OcLabClient } from './support/ocserv-lab.js';
import { SESSION_FIELDS, startGatewayApp, type GatewayApp, type SessionRow } from './support/gateway-harness.js';
import { quietPeriod, waitFor } from './support/wait.js';

const skip = ocservSkipReason();

interface Row extends SessionRow {
  bytesReceived: number;
  bytesSent: number;
  client: { version: string | null };
  group: string | null;
  device: string | null;
}

describe('OpenConnect gateway (ocserv over occtl)', { skip }, () => {
  let lab: OcservLab;
  let sb: GatewayApp<Row>;
  let occtl: OcctlClient;
  const gw = `oc-${Math.random().toString(36).slice(2, 8)}`;
  const clients: Record<string, OcLabClient> = {};
  const gql = (query: string, variables?: Record<string, unknown>) => sb.gql(query, variables);
  const rows = () => sb.rows();
  const rowsOf = (user: string) => sb.rowsOf(user);
  const rowOf = (user: string) => sb.rowOf(user, { timeoutMs: 15_000 });
  /** ocserv's own RX counter for the user's tunnel, after the client sent a datagram through it. */
  const passesTraffic = async (user: string) => {
    const before = (await occtl.users()).find((u) => u.userName === user)!;
    await clients[user]!.sendTraffic(700);
    await waitFor(
      async () => ((await occtl.user(before.id))?.bytesReceived ?? 0) >= before.bytesReceived + 700,
      10_000,
      `${user}'s traffic reaches ocserv`,
    );
  };

  before(async () => {
    lab = await OcservLab.create({ blocks: true });
    await lab.start();
    occtl = new OcctlClient(processRunner(lab.target));
    sb = await startGatewayApp<Row>({
      gateway: lab.gatewayConfig({ id: gw }),
      fields: `${SESSION_FIELDS} bytesReceived bytesSent client { version } group device`,
    });
    await lab.addUser('alice', 'engineering');
    await Promise.all(['alice', 'bob', 'carol'].map(async (user) => (clients[user] = await lab.startClient(user))));
  });
  after(async () => {
    await sb?.close();
    await lab?.close();
  });

  test("tunnels are sessions: ocserv's user, group, tun device, real address, VPN address, user agent, bytes; protocol openconnect", async () => {
    await waitFor(async () => (await rows()).length === 3, 15_000, 'three sessions');
    for (const [i, user] of ['alice', 'bob', 'carol'].entries()) {
      const r = await rowOf(user);
      assert.match(r.id, /^sess_[a-z0-9]{12}$/);
      assert.equal(r.clientAddress, `10.201.${i + 1}.2`);
      assert.match(r.virtualAddress, /^10\.94\.0\.\d+$/);
      assert.deepEqual([r.protocol, r.gateway], ['openconnect', { id: gw, protocol: 'openconnect' }]);
      assert.match(r.client.version ?? '', /^Open AnyConnect VPN Agent/);
      assert.equal(r.group, user === 'alice' ? 'engineering' : null, `${user}'s group from ocserv's listing`);
      assert.match(r.device ?? '', /^vpns\d+$/, `${user}'s tun device from ocserv's listing`);
    }
    const devices = (await rows()).map((r) => r.device);
    assert.equal(new Set(devices).size, 3, `one tun device per tunnel: ${devices.join(', ')}`);
    await passesTraffic('alice');
    await waitFor(
      async () => (await rowOf('alice')).bytesReceived >= 700,
      10_000,
      "alice's bytes from ocserv's listing",
    );
    const gws = await gql('{ gateways { id protocol canBlock agentConnected sessionsOnline } }');
    assert.deepEqual(
      (gws.json.data!.gateways as { id: string }[]).find((g) => g.id === gw),
      { id: gw, protocol: 'openconnect', canBlock: true, agentConnected: true, sessionsOnline: 3 },
    );
  });

  test('disconnectBySessionId ends exactly that tunnel: its client is told and exits, the others keep passing traffic', async () => {
    const victim = await rowOf('bob');
    const others = (await rows()).filter((r) => r.user.name !== 'bob');
    const reply = await sb.disconnectBySessionId(victim.id);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } });
    assert.ok(
      !(await occtl.users()).some((u) => u.userName === 'bob'),
      "gone from ocserv's listing when the mutation answered true",
    );
    await clients.bob!.waitForLog(/Session terminated by server; exiting/, { timeoutMs: 5000 });
    await clients.bob!.waitExited(10_000);
    const ended = await sb.h.app.store.sessions.findById(victim.id);
    assert.equal(ended?.endCause, 'ADMIN_DISCONNECT');
    for (const user of ['alice', 'carol']) {
      assert.equal(clients[user]!.exited, false);
      assert.doesNotMatch(clients[user]!.log(), /terminated|exiting/);
      await passesTraffic(user);
    }
    const after = (await rows()).filter((r) => r.user.name !== 'bob');
    assert.deepEqual(
      after.map((r) => [r.id, r.connectedAt]).sort(),
      others.map((r) => [r.id, r.connectedAt]).sort(),
      'the other sessions untouched',
    );
    const audit = await gql(
      'query ($id: String) { auditEvents(filter: { targetSessionId: $id }) { edges { node { action outcome } } } }',
      { id: victim.id },
    );
    const outcomes = (
      audit.json.data!.auditEvents as { edges: { node: { action: string; outcome: string } }[] }
    ).edges.map((e) => e.node.outcome);
    assert.ok(outcomes.includes('SUCCESS'), audit.text);
    const again = await sb.disconnectBySessionId(victim.id);
    assert.equal(again.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND', again.text);
  });

  test("blockSeconds: the user is disconnected and ocserv refuses the user's next tunnel; others may still connect", async () => {
    const victim = await rowOf('carol');
    const r = await gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, blockSeconds: 120, reason: "test" }) { outcome } }',
      { id: victim.id },
    );
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json.data!.disconnectSession as { outcome: string }).outcome, 'DISCONNECTED', r.text);
    await clients.carol!.waitExited(10_000);
    const again = await lab.startClient('carol', { waitConnected: false });
    await again.waitForLog(/Cookie was rejected by server|Failed to obtain WebVPN cookie|Login failed/, {
      timeoutMs: 15_000,
    });
    await again.waitExited(15_000);
    assert.match(lab.log(), /switchboard: carol is blocked until \d+/);
    assert.equal((await rowsOf('carol')).length, 0);
    clients.dave = await lab.startClient('dave');
    await rowOf('dave');
  });

  test("bulk by user ends every tunnel of that user and nobody else's", async () => {
    clients.erin1 = await lab.startClient('erin');
    clients.erin2 = await lab.startClient('erin');
    await waitFor(async () => (await rowsOf('erin')).length === 2, 15_000, 'two sessions for erin');
    const r = await gql(
      'mutation { disconnectSessions(input: { filter: { userName: "erin" } }) { matched ended failed } }',
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data!.disconnectSessions, { matched: 2, ended: 2, failed: 0 });
    await clients.erin1.waitExited(10_000);
    await clients.erin2.waitExited(10_000);
    assert.deepEqual((await rows()).map((x) => x.user.name).sort(), ['alice', 'dave']);
    await passesTraffic('dave');
  });

  test('Switchboard restarted: the same tunnels are the same sessions, no phantoms', async () => {
    const before = (await rows()).map((r) => r.id).sort();
    await sb.restart();
    assert.deepEqual((await rows()).map((r) => r.id).sort(), before);
  });

  test('ocserv killed: fast GATEWAY_UNAVAILABLE; restarted: stale sessions end as GATEWAY_RESTART, new tunnels are new sessions', async () => {
    const stale = await rowOf('alice');
    // Killed, it says goodbye to nobody (stopped, it reports every tunnel ended, and they end at once).
    lab.signal('SIGKILL');
    await lab.stop();
    await sb.unavailableFor(stale.id);
    await lab.start();
    await sb.endedAs(stale.id, 'GATEWAY_RESTART');
    clients.frank = await lab.startClient('frank');
    await rowOf('frank');
    await quietPeriod(1500); // another snapshot (every second): no phantom of the old ocserv may come back
    await sb.h.app.sync.idle();
    const listed = (await occtl.users())
      .filter((u) => u.state === 'connected')
      .map((u) => u.userName)
      .sort();
    assert.deepEqual((await rows()).map((x) => x.user.name).sort(), listed, 'exactly what the new ocserv lists');
  });
});
