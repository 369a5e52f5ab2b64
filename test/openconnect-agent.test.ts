/**
 * OpenConnect over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL
 * ocserv (its gateway file says `protocol: openconnect`), a `switchboard start` control plane, NATS
 * between them, REAL openconnect clients. The agent reports the tunnels (with ocserv's group and
 * tun device); the seed mutation ends exactly one over the bus: that client is told and exits, the
 * other stays connected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason } from './support/nats-server.js';
import { OcservLab, ocservSkipReason, type OcLabClient } from './support/ocserv-lab.js';
import { startGatewayAgent, type GatewayAgent, type GatewayRow } from './support/gateway-harness.js';
import { waitFor } from './support/wait.js';

const skip = ocservSkipReason() || (await natsSkipReason());

interface Row extends GatewayRow {
  protocol: string;
  group: string | null;
  device: string | null;
}

describe('OpenConnect gateway behind switchboard agent, over NATS', { skip }, () => {
  const clients: Record<string, OcLabClient> = {};
  let lab: OcservLab;
  let sb: GatewayAgent<Row>;

  before(async () => {
    ({ lab, agent: sb } = await startGatewayAgent<OcservLab, Row>({
      name: 'oc',
      async lab() {
        const made = await OcservLab.create();
        await made.start();
        await made.addUser('alice', 'engineering');
        return made;
      },
      gateway: (made, id) => made.gatewayConfig({ id }),
      fields: 'protocol group device',
    }));
    await Promise.all(['alice', 'bob'].map(async (user) => (clients[user] = await lab.startClient(user))));
  });

  after(async () => {
    await sb?.close();
  });

  test('the agent reports the tunnels; the seed mutation ends exactly one over NATS: its client exits, the other stays', async () => {
    await waitFor(async () => (await sb.rows()).length === 2, 30_000, 'two openconnect sessions');
    const all = await sb.rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol, r.group]).sort(), [
      ['alice', 'openconnect', 'engineering'],
      ['bob', 'openconnect', null],
    ]);
    for (const r of all) assert.match(r.device ?? '', /^vpns\d+$/);
    const victim = all.find((r) => r.user.name === 'alice')!;
    const r = await sb.disconnectBySessionId(victim.id);
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    await clients.alice!.waitForLog(/Session terminated by server; exiting/, { timeoutMs: 5000 });
    await clients.alice!.waitExited(10_000);
    assert.equal(clients.bob!.exited, false, 'the other client is untouched');
    assert.doesNotMatch(clients.bob!.log(), /terminated|exiting/);
    await clients.bob!.sendTraffic(300);
    await sb.disconnectedOnNats(victim.id);
    assert.deepEqual(
      (await sb.rows()).map((x) => x.user.name),
      ['bob'],
    );
  });
});
