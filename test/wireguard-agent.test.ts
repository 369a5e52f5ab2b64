/**
 * WireGuard over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL
 * wireguard-go interface (its gateway file says `protocol: wireguard`), a `switchboard start` control
 * plane, NATS between them, REAL wireguard-go clients. The agent reports the peers as sessions; the
 * seed mutation ends exactly one over the bus: that peer leaves the interface and its traffic stops,
 * the other passes, and the session event reaches NATS subscribers.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt, onlineRows } from './support/api-client.js';
import { natsSkipReason } from './support/nats-server.js';
import { WireGuardLab, wireguardSkipReason, type LabPeer } from './support/wireguard-lab.js';
import { startAgentOverNats, type AgentOverNats } from './support/agent-over-nats.js';
import { waitFor } from './support/wait.js';

const skip = wireguardSkipReason() || (await natsSkipReason());
const SESSIONS =
  'query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } protocol virtualAddress } } } }';

interface Row {
  id: string;
  user: { name: string };
  protocol: string;
  virtualAddress: string;
}

describe('WireGuard gateway behind switchboard agent, over NATS', { skip }, () => {
  const run = randomId(6);
  const gw = `wg-agent-${run}`;
  const prefix = `sbwg${run}`;
  const peers: Record<string, LabPeer> = {};
  let lab: WireGuardLab;
  let sb: AgentOverNats;

  const rows = async () => {
    const r = await gqlAt(sb.url, sb.admin, SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };

  before(async () => {
    lab = await WireGuardLab.create();
    for (const user of ['alice', 'bob']) await lab.reserve(user);
    writeFileSync(
      join(lab.dir, 'gateways.yaml'),
      JSON.stringify({ gateways: [{ ...lab.gatewayConfig({ id: gw }), snapshotIntervalSeconds: 1 }] }),
    );
    sb = await startAgentOverNats({ dir: lab.dir, gatewayFile: join(lab.dir, 'gateways.yaml'), gatewayId: gw, prefix });
    for (const user of ['alice', 'bob']) peers[user] = await lab.addClient(user);
  });

  after(async () => {
    await sb?.close();
    await lab?.close();
  });

  test('the agent reports the peers; the seed mutation ends exactly one over NATS: off the interface, its traffic stops, the other passes', async () => {
    await waitFor(async () => (await rows()).length === 2, 30_000, 'two wireguard sessions');
    const all = await rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol, r.virtualAddress]).sort(), [
      ['alice', 'wireguard', peers.alice!.address],
      ['bob', 'wireguard', peers.bob!.address],
    ]);
    const victim = all.find((r) => r.user.name === 'alice')!;
    const r = await gqlAt(sb.url, sb.admin, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: victim.id,
    });
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    assert.deepEqual(
      (await lab.serverPeers()).map((p) => p.publicKey),
      [peers.bob!.publicKey],
      'alice is off the interface when the mutation answered',
    );
    await waitFor(async () => !(await lab.passes(peers.alice!)), 20_000, "alice's traffic to stop", 100);
    assert.equal(await lab.passes(peers.bob!), true, 'the other peer still passes');
    await waitFor(
      () => sb.events.some((e) => e.type === 'session.disconnected' && e.session.id === victim.id),
      10_000,
      'session.disconnected on NATS',
    );
    assert.deepEqual(
      (await rows()).map((x) => x.user.name),
      ['bob'],
    );
  });
});
