/**
 * OpenConnect over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL
 * ocserv (its gateway file says `protocol: openconnect`), a `switchboard start` control plane, NATS
 * between them, REAL openconnect clients. The agent reports the tunnels (with ocserv's group and
 * tun device); the seed mutation ends exactly one over the bus: that client is told and exits, the
 * other stays connected.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt, onlineRows } from './support/api-client.js';
import { natsSkipReason } from './support/nats-server.js';
import { OcservLab, ocservSkipReason, type OcLabClient } from './support/ocserv-lab.js';
import { startAgentOverNats, type AgentOverNats } from './support/agent-over-nats.js';
import { waitFor } from './support/wait.js';

const skip = ocservSkipReason() || (await natsSkipReason());
const SESSIONS =
  'query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } protocol group device } } } }';

interface Row {
  id: string;
  user: { name: string };
  protocol: string;
  group: string | null;
  device: string | null;
}

describe('OpenConnect gateway behind switchboard agent, over NATS', { skip }, () => {
  const run = randomId(6);
  const gw = `oc-agent-${run}`;
  const prefix = `sboc${run}`;
  const clients: Record<string, OcLabClient> = {};
  let lab: OcservLab;
  let sb: AgentOverNats;

  const rows = async () => {
    const r = await gqlAt(sb.url, sb.admin, SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };

  before(async () => {
    lab = await OcservLab.create();
    await lab.start();
    writeFileSync(
      join(lab.dir, 'gateways.yaml'),
      JSON.stringify({ gateways: [{ ...lab.gatewayConfig({ id: gw }), snapshotIntervalSeconds: 1 }] }),
    );
    sb = await startAgentOverNats({ dir: lab.dir, gatewayFile: join(lab.dir, 'gateways.yaml'), gatewayId: gw, prefix });
    await lab.addUser('alice', 'engineering');
    for (const user of ['alice', 'bob']) clients[user] = await lab.startClient(user);
  });

  after(async () => {
    await sb?.close();
    await lab?.close();
  });

  test('the agent reports the tunnels; the seed mutation ends exactly one over NATS: its client exits, the other stays', async () => {
    await waitFor(async () => (await rows()).length === 2, 30_000, 'two openconnect sessions');
    const all = await rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol, r.group]).sort(), [
      ['alice', 'openconnect', 'engineering'],
      ['bob', 'openconnect', null],
    ]);
    for (const r of all) assert.match(r.device ?? '', /^vpns\d+$/);
    const victim = all.find((r) => r.user.name === 'alice')!;
    const r = await gqlAt(sb.url, sb.admin, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: victim.id,
    });
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    await clients.alice!.waitForLog(/Session terminated by server; exiting/, { timeoutMs: 5000 });
    await clients.alice!.waitExited(10_000);
    assert.equal(clients.bob!.exited, false, 'the other client is untouched');
    assert.doesNotMatch(clients.bob!.log(), /terminated|exiting/);
    await clients.bob!.sendTraffic(300);
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
