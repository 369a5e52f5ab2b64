/**
 * Issue "identity you can trust", with REAL OpenVPN: on an authorize gateway the session's user is
 * the identity the daemon verified (the certificate's common name), never the username a
 * certificate-only client chooses to send; a block holds against any made-up username, is listed,
 * survives a restart of the process that enforces it (clients that connected while it was down are
 * answered soon after it is back), and once lifted lets the user back.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { onlineRows, agentConnected } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node {
  id user { name } clientAddress
} } } }`;
const DISCONNECT = `mutation ($id: String!, $block: Int) {
  disconnectSession(input: { sessionId: $id, mode: RESTART, blockSeconds: $block }) { outcome }
}`;
const skip = openvpnSkipReason();

interface Row {
  id: string;
  user: { name: string };
  clientAddress: string;
}

describe('OpenVPN authorize gateway: the user is the verified identity', { skip, timeout: 90_000 }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;
  let admin: string;
  const gw = `ovpn-identity-${process.pid}`;

  const rows = async (): Promise<Row[]> => {
    const r = await h.gql(SESSIONS, { gw }, admin);
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };
  const rowOf = (user: string) =>
    waitFor(async () => (await rows()).find((r) => r.user.name === user), 15_000, `${user} online`);

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
    const adapter = createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger);
    h = await startApp({ adapters: [adapter], env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
    admin = h.admin;
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test("a certificate-only client that sends another user's name is listed under its certificate", async () => {
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
    for (const made of ['someone-else', 'admin', 'bob2']) await refused(made);
    assert.ok(
      !(await rows()).some(
        (x) => x.user.name === 'cert-bob' || ['someone-else', 'admin', 'bob2'].includes(x.user.name),
      ),
    );
    const audit = await h.app.store.audit.list({
      first: 20,
      filter: { action: 'session.reconnect_blocked', targetGatewayId: gw },
    });
    assert.ok(audit.rows.length >= 3, 'each refused attempt audited');
    assert.ok(
      audit.rows.every((a) => a.targetUserName === 'cert-bob'),
      "under the certificate's name",
    );
  });

  /** A client with the blocked certificate and a made-up username is refused. */
  const refused = async (made: string) => {
    const liar = await server.startClient({ cn: 'cert-bob', user: made, waitConnected: false });
    await liar.waitForLog(/AUTH_FAILED/, { timeoutMs: 15_000 });
    await liar.waitExited(15_000);
  };

  test("the block is listed under the certificate's name", async () => {
    const r = await h.gql(
      `query ($gw: String) { blocks(filter: { gatewayId: $gw }) { gatewayId gateway { id } userName until blockedBy sessionId } }`,
      { gw },
      admin,
    );
    assert.equal(r.status, 200, r.text);
    const blocks = r.json.data!.blocks as {
      gatewayId: string;
      gateway: { id: string };
      userName: string;
      until: string;
      blockedBy: string;
    }[];
    assert.deepEqual(
      blocks.map((b) => [b.gatewayId, b.gateway.id, b.userName, b.blockedBy]),
      [[gw, gw, 'cert-bob', 'bootstrap-admin']],
    );
    assert.ok(Date.parse(blocks[0]!.until) > Date.now() + 200_000, 'about 300 s from the disconnect');
  });

  test('the block survives a restart of the process that enforces it', async () => {
    await h.close();
    const adapter = createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger);
    h = await startApp({
      adapters: [adapter],
      databaseUrl: h.databaseUrl,
      env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' },
    });
    // A client that connects while no agent holds the management link is answered by nobody: wait for the new one.
    await waitFor(
      async () => (await agentConnected((q) => h.gql(q, {}, admin), gw)) === true,
      15_000,
      'the new agent linked',
    );
    await refused('after-restart');
    assert.ok(!(await rows()).some((x) => x.user.name === 'cert-bob'));
  });

  test('clients that connect while the process is down are answered soon after it is back; sessions up stay', async () => {
    const alice = await rowOf('cert-alice');
    await h.close();
    // No agent holds the management link: the daemon asks about these two of no one, and never asks again.
    const nina = await server.startClient({ cn: 'cert-nina', user: 'nina', waitConnected: false });
    const bob = await server.startClient({ cn: 'cert-bob', user: 'late', waitConnected: false });
    await server.waitForLog(/authentication deferred for username 'nina'/);
    await server.waitForLog(/authentication deferred for username 'late'/);
    const adapter = createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger);
    h = await startApp({
      adapters: [adapter],
      databaseUrl: h.databaseUrl,
      env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' },
    });
    // Far less than the 60 s the daemon would leave them waiting.
    await waitFor(async () => (await rows()).find((r) => r.user.name === 'cert-nina'), 20_000, 'cert-nina online');
    await nina.waitConnected({ timeoutMs: 20_000 });
    await bob.waitForLog(/AUTH_FAILED,Access blocked by an administrator/, { timeoutMs: 20_000 });
    await bob.waitExited(15_000);
    assert.ok(!(await rows()).some((x) => x.user.name === 'cert-bob'), 'the blocked certificate stays out');
    assert.equal((await rows()).find((r) => r.user.name === 'cert-alice')?.id, alice.id, 'a session up keeps its id');
  });

  test('liftBlock lets the certificate back at once', async () => {
    const reader = await h.gql(
      'mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret } }',
      { in: { name: 'reader', scopes: ['sessions:read'] } },
      admin,
    );
    const readerToken = (reader.json.data!.createToken as { secret: string }).secret;
    const LIFT =
      'mutation ($gw: String!) { liftBlock(input: { gatewayId: $gw, userName: "cert-bob", reason: "found" }) { userName } }';
    const forbidden = await h.gql(LIFT, { gw }, readerToken);
    assert.equal(forbidden.json.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    const lifted = await h.gql(LIFT, { gw }, admin);
    assert.deepEqual(lifted.json, { data: { liftBlock: { userName: 'cert-bob' } } });
    const back = await server.startClient({ cn: 'cert-bob', user: 'whatever', waitConnected: false });
    await back.waitConnected({ timeoutMs: 30_000 });
    await rowOf('cert-bob');
    const again = await h.gql(LIFT, { gw }, admin);
    assert.equal(again.json.errors?.[0]?.extensions?.code, 'BLOCK_NOT_FOUND');
    const audit = await h.app.store.audit.list({ first: 10, filter: { action: 'block.lift', targetGatewayId: gw } });
    assert.deepEqual(audit.rows.map((a) => a.outcome).reverse(), ['FORBIDDEN', 'SUCCESS', 'NOT_FOUND']);
  });
});
