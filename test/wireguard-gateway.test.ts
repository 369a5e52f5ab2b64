/**
 * Issue "WireGuard gateways", end to end: the whole Switchboard (store, bus, sync, in-process agent,
 * HTTP API) on a REAL wireguard-go interface over its UAPI socket, with REAL wireguard-go clients,
 * each in a network namespace of its own passing a TCP echo through its tunnel. One lab and one
 * Switchboard (restarted once, on the same database and state file) for every test, in order.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WireGuardLab, wireguardSkipReason, type LabPeer, type ServerPeer } from './support/wireguard-lab.js';
import { SESSION_FIELDS, startGatewayApp, type GatewayApp, type SessionRow } from './support/gateway-harness.js';
import { wsSubscribe, type Collected } from './support/subscription-clients.js';
import { quietPeriod, waitFor } from './support/wait.js';

const DISCONNECT =
  'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome session { id endCause } } }';
const EVENTS = `subscription ($f: SessionEventFilter) { sessionEvents(filter: $f) {
  type cause actor { name } session { id user { name } } } }`;
const USERS = ['alice', 'bob', 'carol'];
const skip = wireguardSkipReason();

interface Row extends SessionRow {
  publicKey: string | null;
}
interface SessionEvent {
  type: string;
  cause: string | null;
  actor: { name: string } | null;
  session: { id: string; user: { name: string } };
}

interface WireGuardGateway {
  lab: WireGuardLab;
  sb: GatewayApp<Row>;
  gw: string;
  peers: Record<string, LabPeer>;
}

/**
 * For the describe it is called in: a lab whose clients are `USERS` (numbered in that order) and a
 * Switchboard on its interface; `beforeClients` runs once Switchboard is up, before any client.
 */
function wireguardGateway(beforeClients?: (w: WireGuardGateway) => Promise<void>) {
  const w = { peers: {} } as WireGuardGateway;
  before(async () => {
    w.lab = await WireGuardLab.create();
    for (const user of USERS) await w.lab.reserve(user);
    w.gw = w.lab.gatewayConfig().id;
    w.sb = await startGatewayApp<Row>({
      gateway: w.lab.gatewayConfig(),
      fields: `${SESSION_FIELDS} publicKey`,
    });
    await beforeClients?.(w);
    await Promise.all(USERS.map(async (user) => (w.peers[user] = await w.lab.addClient(user))));
  });
  after(async () => {
    await w.sb?.close();
    await w.lab?.close();
  });
  return {
    w,
    rows: () => w.sb.rows(),
    rowOf: (user: string, where?: (r: Row) => boolean) => w.sb.rowOf(user, { where, timeoutMs: 45_000 }),
    onInterface: async (user: string) =>
      (await w.lab.serverPeers()).find((p) => p.publicKey === w.peers[user]!.publicKey),
    disconnect: async (input: Record<string, unknown>) => {
      const r = await w.sb.gql(DISCONNECT, { in: input });
      assert.equal(r.status, 200, r.text);
      return (r.json.data!.disconnectSession as { outcome: string }).outcome;
    },
  };
}

describe('WireGuard gateway (wireguard-go over UAPI)', { skip }, () => {
  let events: Collected;
  after(() => events?.close()); // before the Switchboard it listens to closes
  const { w, rows, rowOf, onInterface, disconnect } = wireguardGateway(async ({ sb, gw }) => {
    events = await wsSubscribe(sb.h.url, EVENTS, { f: { gatewayId: gw } }, { token: sb.token });
  });
  const sessionEvents = () => events.events.map((e) => e.sessionEvents as SessionEvent);
  /** carol's peer is back on the interface exactly as `before`, she passes again, as a new session (not `oldId`). */
  const carolBackAsBefore = async (before: ServerPeer | undefined, oldId: string, seen?: ServerPeer) => {
    const restored = seen ?? (await waitFor(() => onInterface('carol'), 20_000, 'carol restored', 100));
    assert.deepEqual(
      [restored.presharedKey, restored.allowedIps, restored.persistentKeepalive],
      [before?.presharedKey, before?.allowedIps, before?.persistentKeepalive],
      'restored exactly',
    );
    await waitFor(() => w.lab.passes(w.peers.carol!), 45_000, 'carol passes again', 250);
    await rowOf('carol', (r) => r.id !== oldId); // a new session (rowOf waits for it, else fails)
  };

  test("peers are sessions: user, endpoint, allowed IP, protocol wireguard; each one's connect is an event", async () => {
    const { peers, sb, gw } = w;
    await waitFor(async () => (await rows()).length === 3, 30_000, 'three sessions');
    for (const [i, user] of USERS.entries()) {
      const r = await rowOf(user);
      assert.match(r.id, /^sess_[a-z0-9]{12}$/);
      assert.match(r.clientAddress, new RegExp(`^10\\.78\\.${i + 1}\\.2:\\d+$`), `${user}'s endpoint`);
      assert.equal(r.virtualAddress, peers[user]!.address, `${user}'s allowed IP`);
      assert.equal(r.publicKey, peers[user]!.publicKey, `${user}'s public key`);
      assert.deepEqual([r.protocol, r.gateway], ['wireguard', { id: gw, protocol: 'wireguard' }]);
      assert.equal((await onInterface(user))?.endpoint, r.clientAddress, 'the endpoint wg shows');
    }
    const gws = await sb.gql('{ gateways { id protocol canBlock agentConnected sessionsOnline } }');
    assert.deepEqual(
      (gws.json.data!.gateways as { id: string }[]).find((g) => g.id === gw),
      { id: gw, protocol: 'wireguard', canBlock: true, agentConnected: true, sessionsOnline: 3 },
    );
    await waitFor(
      () => sessionEvents().filter((e) => e.type === 'SESSION_CONNECTED').length === 3,
      10_000,
      'three connect events',
    );
    const connected = sessionEvents()
      .filter((e) => e.type === 'SESSION_CONNECTED')
      .map((e) => [e.type, e.session.user.name, e.session.id]);
    assert.deepEqual(connected.sort(), (await rows()).map((r) => ['SESSION_CONNECTED', r.user.name, r.id]).sort());
  });

  test("disconnectBySessionId (HALT): that peer is off the interface when it answers true, its traffic stops and stays stopped; the others' never stops", async () => {
    const { lab, peers, sb } = w;
    const victim = await rowOf('alice');
    const others = (await rows()).filter((r) => r.user.name !== 'alice');
    // The bystanders pass traffic all along, probed in turn while the disconnect happens.
    let probing = true;
    const misses: string[] = [];
    const prober = (async () => {
      while (probing) for (const user of ['bob', 'carol']) if (!(await lab.passes(peers[user]!))) misses.push(user);
    })();
    try {
      const reply = await sb.disconnectBySessionId(victim.id);
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } });
      assert.equal(await onInterface('alice'), undefined, 'gone from the interface when the mutation answered');
      await waitFor(async () => !(await lab.passes(peers.alice!)), 20_000, "alice's traffic to stop", 100);
      await quietPeriod(3000); // polls and snapshots (every 250 ms, every second): none may bring her back
      assert.equal(await lab.passes(peers.alice!), false, 'still stopped');
      assert.equal(await onInterface('alice'), undefined, 'still off the interface');
    } finally {
      probing = false;
      await prober;
    }
    assert.deepEqual(misses, [], 'the other peers never stopped passing');
    assert.deepEqual(
      (await rows()).map((r) => [r.id, r.connectedAt]).sort(),
      others.map((r) => [r.id, r.connectedAt]).sort(),
      'the other sessions untouched',
    );
    const ended = await sb.h.app.store.sessions.findById(victim.id);
    assert.equal(ended?.endCause, 'ADMIN_DISCONNECT');
    const audit = await sb.h.app.store.audit.list({ first: 10, filter: { targetSessionId: victim.id } });
    assert.deepEqual(audit.rows.map((a) => a.outcome).sort(), ['PENDING', 'SUCCESS']);
    await waitFor(
      () => sessionEvents().find((e) => e.type === 'SESSION_DISCONNECTED' && e.session.id === victim.id),
      10_000,
      'the disconnect event',
    );
    const end = sessionEvents().filter((e) => e.type === 'SESSION_DISCONNECTED');
    assert.deepEqual(
      end.map((e) => [e.session.id, e.cause, e.actor?.name]),
      [[victim.id, 'ADMIN_DISCONNECT', 'admin']],
    );
    const again = await sb.disconnectBySessionId(victim.id);
    assert.equal(again.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND', again.text);
  });

  test("RESTART: the peer is back on the interface at once with its configuration; its client's next handshake is a new session", async () => {
    const { lab, peers, sb } = w;
    const old = await rowOf('bob');
    const before = await onInterface('bob');
    assert.equal(await disconnect({ sessionId: old.id, mode: 'RESTART', reason: 'rotate' }), 'DISCONNECTED');
    const back = await onInterface('bob');
    assert.deepEqual(
      [back?.presharedKey, back?.allowedIps, back?.persistentKeepalive],
      [before?.presharedKey, before?.allowedIps, before?.persistentKeepalive],
      're-added at once, as it was',
    );
    const fresh = await rowOf('bob', (r) => r.id !== old.id);
    assert.equal(fresh.virtualAddress, peers.bob!.address);
    assert.equal((await sb.h.app.store.sessions.findById(old.id))?.endCause, 'ADMIN_DISCONNECT');
    await waitFor(() => lab.passes(peers.bob!), 30_000, 'bob passes again', 100);
    assert.equal(await lab.passes(peers.carol!), true, 'carol still passes');
  });

  test('blockSeconds: held out (a re-add behind its back is undone and audited), across a Switchboard restart; lifted: restored exactly and passing again', async () => {
    const { lab, peers, sb, gw } = w;
    // Far longer than everything below takes on a busy machine (about 30 s at load 35): the block is
    // lifted at the end, and its running out is the next test's.
    const BLOCK_SECONDS = 600;
    const victim = await rowOf('carol');
    const before = await onInterface('carol');
    const sessionsBefore = (await rows()).filter((r) => r.user.name !== 'carol').map((r) => r.id);
    assert.equal(
      await disconnect({ sessionId: victim.id, blockSeconds: BLOCK_SECONDS, reason: 'cool down' }),
      'DISCONNECTED',
    );
    assert.equal(await onInterface('carol'), undefined, 'held off the interface');
    await waitFor(async () => !(await lab.passes(peers.carol!)), 20_000, "carol's traffic to stop", 100);

    // Someone puts the peer back behind Switchboard's back: it is removed again and that is audited.
    const readded = async (n: number) => {
      await lab.addPeerToServer(peers.carol!);
      await waitFor(async () => !(await onInterface('carol')), 10_000, 'the re-added peer removed again', 50);
      return waitFor(
        async () => {
          const r = await sb.h.app.store.audit.list({
            first: 10,
            filter: { action: 'session.reconnect_blocked', targetGatewayId: gw, targetUserName: 'carol' },
          });
          return r.rows.length >= n ? r.rows : null;
        },
        10_000,
        `${n} reconnect_blocked audit row(s)`,
      );
    };
    await readded(1);

    // Switchboard restarts while the block runs: same sessions, no phantom, and the block still holds.
    await events.close();
    await sb.restart();
    assert.deepEqual((await rows()).map((r) => r.id).sort(), sessionsBefore.sort(), 'the same sessions, no phantom');
    const blocks = await sb.gql('query ($gw: String) { blocks(filter: { gatewayId: $gw }) { userName } }', { gw });
    assert.deepEqual(blocks.json.data!.blocks, [{ userName: 'carol' }], blocks.text);
    const audit = await readded(2);
    assert.match(audit[0]!.reason ?? '', /^peer re-added while blocked for \d+ more seconds; removed again$/);
    // The endpoint the re-added peer had, if it got one (a peer added without one has none until it handshakes).
    const endpoint = audit[0]!.metadata.clientAddress;
    assert.ok(endpoint === null || /^10\.78\.3\.2:\d+$/.test(String(endpoint)), `endpoint ${String(endpoint)}`);
    assert.equal(await onInterface('carol'), undefined, 'still held off');

    // The block is lifted: the peer is back exactly as it was, and its client's next handshake is a new session.
    const lifted = await sb.gql(
      'mutation ($gw: String!) { liftBlock(input: { gatewayId: $gw, userName: "carol", reason: "done" }) { userName } }',
      { gw },
    );
    assert.deepEqual(lifted.json, { data: { liftBlock: { userName: 'carol' } } }, lifted.text);
    await carolBackAsBefore(before, victim.id);
  });

  test('blockSeconds runs out: the peer is held off until then, then restored exactly and passing again', async () => {
    const { gw } = w;
    // Longer than a disconnect takes to answer on a busy machine; the test waits it out.
    const BLOCK_SECONDS = 10;
    const victim = await rowOf('carol');
    const before = await onInterface('carol');
    const until = Date.now() + BLOCK_SECONDS * 1000;
    assert.equal(
      await disconnect({ sessionId: victim.id, blockSeconds: BLOCK_SECONDS, reason: 'short' }),
      'DISCONNECTED',
    );
    assert.equal(await onInterface('carol'), undefined, 'held off the interface');
    const blocks = await w.sb.gql('query ($gw: String) { blocks(filter: { gatewayId: $gw }) { userName } }', { gw });
    assert.deepEqual(blocks.json.data!.blocks, [{ userName: 'carol' }], blocks.text);
    const restored = await waitFor(() => onInterface('carol'), BLOCK_SECONDS * 1000 + 20_000, 'carol restored', 100);
    assert.ok(Date.now() >= until - 1000, 'not before the block ended');
    await carolBackAsBefore(before, victim.id, restored);
  });

  test('wireguard-go stopped: GATEWAY_UNAVAILABLE at once; started again: the old sessions end as GATEWAY_RESTART, the clients are new sessions, no phantom', async () => {
    const { lab, peers, sb } = w;
    const stale = await rowOf('bob');
    const staleIds = (await rows()).map((r) => r.id);
    await lab.stopServer();
    await sb.unavailableFor(stale.id);
    await lab.startServer();
    for (const id of staleIds) await sb.endedAs(id, 'GATEWAY_RESTART');
    // alice was halted: the restart's configuration (what was on the interface) does not bring her back.
    for (const user of ['bob', 'carol']) await rowOf(user, (x) => !staleIds.includes(x.id));
    await sb.h.app.sync.idle();
    const handshaken = (await lab.serverPeers()).filter((p) => p.lastHandshakeAt > 0).map((p) => p.publicKey);
    assert.deepEqual(
      (await rows()).map((x) => peers[x.user.name]!.publicKey).sort(),
      handshaken.sort(),
      'exactly the peers that handshook with the new instance',
    );
    for (const user of ['bob', 'carol']) assert.equal(await lab.passes(peers[user]!), true, `${user} passes`);
  });
});
