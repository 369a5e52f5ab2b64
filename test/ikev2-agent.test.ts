/**
 * IKEv2 over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL charon
 * (its gateway file says `protocol: ikev2`), a `switchboard start` control plane, NATS between them.
 * The agent reports the IKE SAs; the seed mutation ends exactly one over the bus, and the session
 * event reaches NATS subscribers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason } from './support/nats-server.js';
import { StrongSwanLab, charonSkipReason } from './support/strongswan-lab.js';
import { startGatewayAgent, type GatewayAgent, type GatewayRow } from './support/gateway-harness.js';
import { waitFor } from './support/wait.js';

const skip = charonSkipReason() || (await natsSkipReason());

interface Row extends GatewayRow {
  protocol: string;
}

describe('IKEv2 gateway behind switchboard agent, over NATS', { skip }, () => {
  let lab: StrongSwanLab;
  let sb: GatewayAgent<Row>;

  before(async () => {
    ({ lab, agent: sb } = await startGatewayAgent<StrongSwanLab, Row>({
      name: 'ike',
      lab: () => StrongSwanLab.create({ clients: 2 }),
      gateway: (made, id) => made.gatewayConfig({ id }),
      fields: 'protocol',
    }));
    for (const c of lab.clients) await c.initiate(); // one at a time, as the gateway suite does
  });

  after(async () => {
    await sb?.close();
  });

  test('the agent reports the IKE SAs; the seed mutation ends exactly one over NATS, and its event is published', async () => {
    await waitFor(async () => (await sb.rows()).length === 2, 30_000, 'two ikev2 sessions');
    const all = await sb.rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol]).sort(), [
      ['user1', 'ikev2'],
      ['user2', 'ikev2'],
    ]);
    const victim = all.find((r) => r.user.name === 'user1')!;
    const mark = lab.clients[0]!.logLength();
    const r = await sb.disconnectBySessionId(victim.id);
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    await lab.clients[0]!.waitForLog(/received DELETE for IKE_SA home/, { from: mark, timeoutMs: 5000 });
    assert.equal(await lab.clients[1]!.established(), true, 'the other peer is untouched');
    await sb.disconnectedOnNats(victim.id);
    assert.deepEqual(
      (await sb.rows()).map((x) => x.user.name),
      ['user2'],
    );
  });
});
