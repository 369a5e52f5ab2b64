/**
 * IKEv2 over the many-hosts shape, in SEPARATE PROCESSES: `switchboard agent` next to a REAL charon
 * (its gateway file says `protocol: ikev2`), a `switchboard start` control plane, NATS between them.
 * The agent reports the IKE SAs; the seed mutation ends exactly one over the bus, and the session
 * event reaches NATS subscribers.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt, onlineRows } from './support/api-client.js';
import { natsSkipReason } from './support/nats-server.js';
import { StrongSwanLab, charonSkipReason } from './support/strongswan-lab.js';
import { startAgentOverNats, type AgentOverNats } from './support/agent-over-nats.js';
import { waitFor } from './support/wait.js';

const skip = charonSkipReason() || (await natsSkipReason());
const SESSIONS =
  'query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } protocol } } } }';

describe('IKEv2 gateway behind switchboard agent, over NATS', { skip }, () => {
  const run = randomId(6);
  const gw = `ike-agent-${run}`;
  const prefix = `sbike${run}`;
  let lab: StrongSwanLab;
  let sb: AgentOverNats;

  const rows = async () => {
    const r = await gqlAt(sb.url, sb.admin, SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return onlineRows<{ id: string; user: { name: string }; protocol: string }>(r.json);
  };

  before(async () => {
    lab = await StrongSwanLab.create({ clients: 2 });
    writeFileSync(
      join(lab.dir, 'gateways.yaml'),
      JSON.stringify({
        gateways: [
          { id: gw, name: 'Lab IKEv2', protocol: 'ikev2', vici: lab.responder.vici, snapshotIntervalSeconds: 1 },
        ],
      }),
    );
    sb = await startAgentOverNats({ dir: lab.dir, gatewayFile: join(lab.dir, 'gateways.yaml'), gatewayId: gw, prefix });
    for (const c of lab.clients) await c.initiate();
  });

  after(async () => {
    await sb?.close();
    await lab?.close();
  });

  test('the agent reports the IKE SAs; the seed mutation ends exactly one over NATS, and its event is published', async () => {
    await waitFor(async () => (await rows()).length === 2, 30_000, 'two ikev2 sessions');
    const all = await rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol]).sort(), [
      ['user1', 'ikev2'],
      ['user2', 'ikev2'],
    ]);
    const victim = all.find((r) => r.user.name === 'user1')!;
    const mark = lab.clients[0]!.logLength();
    const r = await gqlAt(sb.url, sb.admin, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
      id: victim.id,
    });
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    await lab.clients[0]!.waitForLog(/received DELETE for IKE_SA home/, { from: mark, timeoutMs: 5000 });
    assert.equal(await lab.clients[1]!.established(), true, 'the other peer is untouched');
    await waitFor(
      () => sb.events.some((e) => e.type === 'session.disconnected' && e.session.id === victim.id),
      10_000,
      'session.disconnected on NATS',
    );
    assert.deepEqual(
      (await rows()).map((x) => x.user.name),
      ['user2'],
    );
  });
});
