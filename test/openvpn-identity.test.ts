/**
 * Issue "identity you can trust", with REAL OpenVPN: on an authorize gateway the session's user is
 * the identity the daemon verified (the certificate's common name), never the username a
 * certificate-only client chooses to send, and a block holds against any made-up username.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/core/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { startApp, waitFor, type AppHarness } from './support/app-harness.js';

const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node {
  id user { name } clientAddress
} } } }`;
const DISCONNECT = `mutation ($id: String!, $block: Int) {
  disconnectSession(input: { sessionId: $id, mode: RESTART, blockSeconds: $block }) { outcome }
}`;
const skip = openvpnSkipReason();

interface Row { id: string; user: { name: string }; clientAddress: string }

describe('OpenVPN authorize gateway: the user is the verified identity', { skip, timeout: 90_000 }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;
  const gw = `ovpn-identity-${process.pid}`;

  const rows = async (): Promise<Row[]> => {
    const r = await h.gql(SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return (r.json.data!.onlineSessions as { edges: { node: Row }[] }).edges.map((e) => e.node);
  };
  const rowOf = (user: string) => waitFor(async () => (await rows()).find((r) => r.user.name === user), 15_000, `${user} online`);

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
    const adapter = createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger);
    h = await startApp({ adapters: [adapter], env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('a certificate-only client that sends another user\'s name is listed under its certificate', async () => {
    await server.startClient({ cn: 'cert-alice', user: 'client1' });
    await server.startClient({ cn: 'client1', user: 'client1' });
    const alice = await rowOf('cert-alice');
    // Both clients sent "client1": only the one whose certificate says so is client1.
    await rowOf('client1');
    await h.settle();
    const now = await rows();
    assert.equal(now.filter((r) => r.user.name === 'client1').length, 1, 'one session of client1, not two');
    const stored = await h.app.store.sessions.findById(alice.id);
    assert.equal(stored?.userName, 'cert-alice');
    assert.equal(stored?.commonName, 'cert-alice');
  });

  test('a blocked certificate stays out whatever username it sends', async () => {
    const victim = await server.startClient({ cn: 'cert-bob', user: 'bob' });
    const row = await rowOf('cert-bob');
    const mark = victim.logLength();
    const r = await h.gql(DISCONNECT, { id: row.id, block: 300 });
    assert.equal(r.status, 200, r.text);
    await victim.waitForLog(/AUTH_FAILED/, { from: mark, timeoutMs: 15_000 });
    for (const made of ['someone-else', 'admin', 'bob2']) {
      const liar = await server.startClient({ cn: 'cert-bob', user: made, waitConnected: false });
      await liar.waitForLog(/AUTH_FAILED/, { timeoutMs: 15_000 });
      await liar.waitExited(15_000);
    }
    assert.ok(!(await rows()).some((x) => x.user.name === 'cert-bob' || ['someone-else', 'admin', 'bob2'].includes(x.user.name)));
    const audit = await h.app.store.audit.list({ first: 20, filter: { action: 'session.reconnect_blocked', targetGatewayId: gw } });
    assert.ok(audit.rows.length >= 3, 'each refused attempt audited');
    assert.ok(audit.rows.every((a) => a.targetUserName === 'cert-bob'), 'under the certificate\'s name');
  });
});
