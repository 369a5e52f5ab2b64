/**
 * Issue "IKEv2 gateways", end to end: the whole Switchboard (store, bus, sync, in-process agent, HTTP
 * API) attached over VICI to a REAL strongSwan charon responder, with REAL charon initiators in their
 * own network namespaces passing real ESP traffic (userspace ESP, kernel-libipsec). Nothing here is a
 * test double.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StrongSwanLab, charonSkipReason, type LabClient } from './support/strongswan-lab.js';
import { SESSION_FIELDS, startGatewayApp, type GatewayApp, type SessionRow } from './support/gateway-harness.js';
import { waitFor } from './support/wait.js';

const skip = charonSkipReason();

interface Row extends SessionRow {
  bytesReceived: number;
  bytesSent: number;
}

describe('IKEv2 gateway (strongSwan charon over VICI)', { skip }, () => {
  let lab: StrongSwanLab;
  let sb: GatewayApp<Row>;
  const gw = `ike-${Math.random().toString(36).slice(2, 8)}`;
  let client: (i: number) => LabClient;
  const gql = (query: string, variables?: Record<string, unknown>) => sb.gql(query, variables);
  const rows = () => sb.rows();
  const rowsOf = (user: string) => sb.rowsOf(user);
  const rowOf = (user: string) => sb.rowOf(user);

  before(async () => {
    lab = await StrongSwanLab.create({ clients: 4, users: ['user1', 'user2', 'user3', 'user2'] });
    client = (i) => lab.clients[i - 1]!;
    sb = await startGatewayApp<Row>({
      gateway: lab.gatewayConfig({ id: gw }),
      fields: `${SESSION_FIELDS} bytesReceived bytesSent`,
    });
    for (const i of [1, 2, 3]) await client(i).initiate(); // one at a time: charon took some together badly at load 40
  });
  after(async () => {
    await sb?.close();
    await lab?.close();
  });

  test('IKE SAs are sessions: EAP user, real address and port, virtual IP, protocol ikev2, CHILD SA bytes', async () => {
    await waitFor(async () => (await rows()).length === 3, 30_000, 'three sessions');
    for (const i of [1, 2, 3]) {
      const r = await rowOf(`user${i}`);
      assert.match(r.id, /^sess_[a-z0-9]{12}$/);
      assert.equal(r.clientAddress, `10.90.${i}.2:4500`);
      assert.match(r.virtualAddress, /^10\.91\.0\.\d+$/);
      assert.deepEqual([r.protocol, r.gateway], ['ikev2', { id: gw, protocol: 'ikev2' }]);
    }
    await client(2).sendUdp(3);
    await waitFor(
      async () => (await rowOf('user2')).bytesReceived > 0,
      10_000,
      'user2 bytes counted from its CHILD SA',
    );
    const stored = await sb.h.app.store.sessions.findById((await rowOf('user2')).id);
    assert.match(
      stored!.clientVersion ?? '',
      /^IKEv2 AES_CBC-128\/HMAC_SHA2_256_128\/PRF_HMAC_SHA2_256\/CURVE_25519$/,
      'algorithms kept',
    );
  });

  test('disconnectBySessionId ends exactly that IKE SA with a DELETE; the others stay ESTABLISHED and keep passing ESP', async () => {
    const victim = await rowOf('user1');
    const others = (await rows()).filter((r) => r.user.name !== 'user1');
    const responderMark = lab.responder.logLength();
    const clientMark = client(1).logLength();
    const reply = await sb.disconnectBySessionId(victim.id);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } });
    await lab.responder.waitForLog(/sending DELETE for IKE_SA rw\[\d+\]/, { from: responderMark, timeoutMs: 5000 });
    await client(1).waitForLog(/received DELETE for IKE_SA home\[\d+\]/, { from: clientMark, timeoutMs: 5000 });
    assert.equal(await client(1).established(), false, "client1's charon has no IKE SA left");
    assert.ok(
      !(await lab.responder.listSasRaw()).some((l) => l.includes('remote-eap-id=user1 ')),
      'gone from the responder',
    );
    assert.equal((await sb.h.app.store.sessions.findById(victim.id))!.endCause, 'ADMIN_DISCONNECT');
    for (const i of [2, 3]) {
      assert.equal(await client(i).established(), true, `client${i} still ESTABLISHED`);
      const before = await lab.bytesInFrom(`user${i}`);
      await client(i).sendUdp(3);
      await waitFor(
        async () => (await lab.bytesInFrom(`user${i}`)) > before,
        10_000,
        `client${i}'s ESP still reaches the responder`,
      );
    }
    const after = (await rows()).filter((r) => r.user.name !== 'user1');
    assert.deepEqual(
      after.map((r) => [r.id, r.connectedAt]).sort(),
      others.map((r) => [r.id, r.connectedAt]).sort(),
      'the other sessions untouched',
    );
  });

  test('ending a session that is already gone: SESSION_NOT_FOUND; blockSeconds: BLOCK_UNSUPPORTED and nothing sent', async () => {
    const row = await rowOf('user2');
    const mark = lab.responder.logLength();
    const r = await gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, blockSeconds: 60 }) { outcome } }',
      { id: row.id },
    );
    assert.equal(r.json.errors?.[0]?.extensions?.code, 'BLOCK_UNSUPPORTED', r.text);
    assert.equal(await client(2).established(), true);
    assert.doesNotMatch(lab.responder.log().slice(mark), /sending DELETE/);
    const gws = await gql('{ gateways { id canBlock agentConnected } }');
    assert.deepEqual(
      (gws.json.data!.gateways as { id: string }[]).find((g) => g.id === gw),
      { id: gw, canBlock: false, agentConnected: true },
    );
  });

  test("bulk by user ends every IKE SA of that user and nobody else's", async () => {
    await client(4).initiate(); // user2 again, from another peer (the responder allows several: unique = never)
    await waitFor(async () => (await rowsOf('user2')).length === 2, 30_000, 'two sessions for user2');
    const r = await gql(
      'mutation { disconnectSessions(input: { filter: { userName: "user2" } }) { matched ended failed } }',
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data!.disconnectSessions, { matched: 2, ended: 2, failed: 0 });
    assert.equal(await client(2).established(), false);
    assert.equal(await client(4).established(), false);
    assert.equal(await client(3).established(), true);
    assert.deepEqual(
      (await rows()).map((x) => x.user.name),
      ['user3'],
    );
  });

  test('Switchboard restarted: the same IKE SAs are the same sessions, no phantoms', async () => {
    const before = (await rows()).map((r) => r.id).sort();
    await sb.restart();
    assert.deepEqual((await rows()).map((r) => r.id).sort(), before);
  });

  test('charon killed: fast GATEWAY_UNAVAILABLE; restarted: stale sessions end as GATEWAY_RESTART, new IKE SAs are new sessions', async () => {
    const stale = await rowOf('user3');
    lab.responder.signal('SIGKILL');
    await lab.responder.stop();
    await sb.unavailableFor(stale.id);
    await lab.responder.start();
    await sb.endedAs(stale.id, 'GATEWAY_RESTART');
    // The new charon's unique ids restart at 1: the new SAs must not be taken for the old sessions.
    for (const i of [1, 2]) await client(i).initiate(); // their earlier SAs were terminated; client3 still holds a stale one
    await waitFor(async () => (await rows()).length === 2, 30_000, 'exactly the two new sessions');
    const now = await rows();
    assert.deepEqual(now.map((x) => x.user.name).sort(), ['user1', 'user2']);
    assert.ok(!now.some((x) => x.id === stale.id));
  });
});
