/**
 * Issue "Events, notifications, bulk disconnects and the audit trail", end to end against REAL
 * OpenVPN: two gateways (UDP observe, TCP authorize) with real clients under one Switchboard.
 * Tests run in order and share the setup.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/core/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { startApp, waitFor, type AppHarness } from './support/app-harness.js';

const skip = openvpnSkipReason();
const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } gateway { id } } } } }`;
const BULK = `mutation ($in: DisconnectSessionsInput!) { disconnectSessions(input: $in) { matched ended alreadyGone failed errors { sessionId code message } } }`;

interface Row { id: string; user: { name: string }; gateway: { id: string } }

describe('events, bulk disconnect and audit against real OpenVPN', { skip }, () => {
  let lab: OpenVpnLab;
  let udp: LabServer;
  let tcp: LabServer;
  let h: AppHarness;
  const gwU = 'ev-udp';
  const gwT = 'ev-tcp';
  const clients: { gw: string; user: string; client: LabClient }[] = [];

  const rows = async (gw?: string): Promise<Row[]> => {
    const r = await h.gql(SESSIONS, { gw: gw ?? null });
    assert.equal(r.status, 200, r.text);
    return (r.json.data!.onlineSessions as { edges: { node: Row }[] }).edges.map((e) => e.node);
  };
  const connect = async (server: LabServer, gw: string, user: string) => {
    const client = await server.startClient({ user });
    clients.push({ gw, user, client });
    return client;
  };
  const online = (gw: string, user: string) => waitFor(async () => (await rows(gw)).find((r) => r.user.name === user), 15_000, `${user} on ${gw}`);

  before(async () => {
    lab = await OpenVpnLab.create();
    [udp, tcp] = await Promise.all([lab.startServer({ proto: 'udp4', mode: 'observe' }), lab.startServer({ proto: 'tcp4', mode: 'authorize' })]);
    const adapters = [
      createAdapter(udp.gatewayConfig({ id: gwU, snapshotIntervalMs: 2000 }), silentLogger),
      createAdapter(tcp.gatewayConfig({ id: gwT, snapshotIntervalMs: 2000 }), silentLogger),
    ];
    h = await startApp({ adapters, env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('bulk: a user with sessions on two gateways loses exactly those; another user is untouched', async () => {
    await Promise.all([connect(udp, gwU, 'mallory'), connect(tcp, gwT, 'mallory'), connect(udp, gwU, 'alice'), connect(tcp, gwT, 'bob')]);
    await Promise.all([online(gwU, 'mallory'), online(gwT, 'mallory'), online(gwU, 'alice'), online(gwT, 'bob')]);
    const victims = (await rows()).filter((r) => r.user.name === 'mallory');
    assert.deepEqual(victims.map((r) => r.gateway.id).sort(), [gwT, gwU]);

    const refused = await h.gql(BULK, { in: { reason: 'oops' } });
    assert.equal(refused.json.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', refused.text);
    assert.equal(refused.status, 400);

    const r = await h.gql(BULK, { in: { filter: { userName: 'mallory' }, reason: 'account compromised', message: 'Your account is locked' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data!.disconnectSessions, { matched: 2, ended: 2, alreadyGone: 0, failed: 0, errors: [] });
    for (const c of clients.filter((x) => x.user === 'mallory')) {
      // The message reaches the client: OpenVPN shows it in the HALT it pushes.
      await c.client.waitForLog(/Your account is locked/, { timeoutMs: 5000 });
      await c.client.waitExited(10_000);
    }
    for (const c of clients.filter((x) => x.user !== 'mallory')) assert.equal(c.client.exited, false, `${c.user} still running`);
    assert.deepEqual((await rows()).map((r) => r.user.name).sort(), ['alice', 'bob']);
    const audit = await h.app.store.audit.list({ first: 10, filter: { targetUserName: 'mallory', action: 'session.disconnect' } });
    assert.deepEqual(audit.rows.map((e) => [e.targetSessionId, e.outcome, e.reason]).sort(), victims.map((v) => [v.id, 'SUCCESS', 'account compromised']).sort());
  });
});
