/**
 * WireGuard over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL
 * wireguard-go interface (its gateway file says `protocol: wireguard`), a `switchboard start` control
 * plane, NATS between them, REAL wireguard-go clients. The agent reports the peers as sessions; the
 * seed mutation ends exactly one over the bus: that peer leaves the interface and its traffic stops,
 * the other passes, and the session event reaches NATS subscribers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason } from './support/nats-server.js';
import { WireGuardLab, wireguardSkipReason, type LabPeer } from './support/wireguard-lab.js';
import { startGatewayAgent, type GatewayAgent, type GatewayRow } from './support/gateway-harness.js';
import { waitFor } from './support/wait.js';

const skip = wireguardSkipReason() || (await natsSkipReason());

interface Row extends GatewayRow {
  protocol: string;
  virtualAddress: string;
}

describe('WireGuard gateway behind switchboard agent, over NATS', { skip }, () => {
  const peers: Record<string, LabPeer> = {};
  let lab: WireGuardLab;
  let sb: GatewayAgent<Row>;

  before(async () => {
    ({ lab, agent: sb } = await startGatewayAgent<WireGuardLab, Row>({
      name: 'wg',
      async lab() {
        const made = await WireGuardLab.create();
        for (const user of ['alice', 'bob']) await made.reserve(user);
        return made;
      },
      gateway: (made, id) => made.gatewayConfig({ id }),
      fields: 'protocol virtualAddress',
    }));
    await Promise.all(['alice', 'bob'].map(async (user) => (peers[user] = await lab.addClient(user))));
  });

  after(async () => {
    await sb?.close();
  });

  test('the agent reports the peers; the seed mutation ends exactly one over NATS: off the interface, its traffic stops, the other passes', async () => {
    await waitFor(async () => (await sb.rows()).length === 2, 30_000, 'two wireguard sessions');
    const all = await sb.rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol, r.virtualAddress]).sort(), [
      ['alice', 'wireguard', peers.alice!.address],
      ['bob', 'wireguard', peers.bob!.address],
    ]);
    const victim = all.find((r) => r.user.name === 'alice')!;
    const r = await sb.disconnectBySessionId(victim.id);
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    assert.deepEqual(
      (await lab.serverPeers()).map((p) => p.publicKey),
      [peers.bob!.publicKey],
      'alice is off the interface when the mutation answered',
    );
    await waitFor(async () => !(await lab.passes(peers.alice!)), 20_000, "alice's traffic to stop", 100);
    assert.equal(await lab.passes(peers.bob!), true, 'the other peer still passes');
    await sb.disconnectedOnNats(victim.id);
    assert.deepEqual(
      (await sb.rows()).map((x) => x.user.name),
      ['bob'],
    );
  });
});
