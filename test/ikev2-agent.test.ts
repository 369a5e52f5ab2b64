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
import { subjects } from '../src/bus/bus.js';
import { connectNatsBus, type NatsBus } from '../src/bus/nats/nats-bus.js';
import type { SessionEvent } from '../src/core/session-events.js';
import { randomId } from '../src/domain/ids.js';
import { gql as gqlAt, onlineRows } from './support/api-client.js';
import { natsSkipReason, TEST_NATS_URL } from './support/nats-server.js';
import { StrongSwanLab, charonSkipReason } from './support/strongswan-lab.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { waitFor } from './support/wait.js';

const skip = charonSkipReason() || (await natsSkipReason());
const SESSIONS = 'query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } protocol } } } }';

describe('IKEv2 gateway behind switchboard agent, over NATS', { skip }, () => {
  const run = randomId(6);
  const gw = `ike-agent-${run}`;
  const prefix = `sbike${run}`;
  const procs: SwitchboardProcess[] = [];
  const events: SessionEvent[] = [];
  let lab: StrongSwanLab;
  let watcher: NatsBus;
  let url = '';
  let admin = '';

  const rows = async () => {
    const r = await gqlAt(url, admin, SESSIONS, { gw });
    assert.equal(r.status, 200, r.text);
    return onlineRows<{ id: string; user: { name: string }; protocol: string }>(r.json);
  };

  before(async () => {
    lab = await StrongSwanLab.create({ clients: 2 });
    writeFileSync(join(lab.dir, 'gateways.yaml'), JSON.stringify({ gateways: [{ id: gw, name: 'Lab IKEv2', protocol: 'ikev2', vici: lab.responder.vici, snapshotIntervalSeconds: 1 }] }));
    watcher = await connectNatsBus({ url: TEST_NATS_URL, prefix });
    watcher.subscribe(subjects.sessionEvents, (e) => {
      const event = e as SessionEvent;
      if (event.session.gatewayId === gw) events.push(event);
    });
    const env = { SWITCHBOARD_NATS_URL: TEST_NATS_URL, SWITCHBOARD_NATS_PREFIX: prefix, SWITCHBOARD_LOG_LEVEL: 'info' };
    const control = SwitchboardProcess.start('control plane', ['start'], { ...env, SWITCHBOARD_PORT: '0', SWITCHBOARD_DATABASE_URL: join(lab.dir, 'switchboard.db') });
    procs.push(control);
    admin = (await control.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    url = (await control.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const agent = SwitchboardProcess.start('agent', ['agent'], { ...env, SWITCHBOARD_CONFIG: join(lab.dir, 'gateways.yaml'), SWITCHBOARD_HEARTBEAT_MS: '500' });
    procs.push(agent);
    await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/);
    for (const c of lab.clients) await c.initiate();
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await watcher?.close();
    await lab?.close();
  });

  test('the agent reports the IKE SAs; the seed mutation ends exactly one over NATS, and its event is published', async () => {
    await waitFor(async () => (await rows()).length === 2, 30_000, 'two ikev2 sessions');
    const all = await rows();
    assert.deepEqual(all.map((r) => [r.user.name, r.protocol]).sort(), [['user1', 'ikev2'], ['user2', 'ikev2']]);
    const victim = all.find((r) => r.user.name === 'user1')!;
    const mark = lab.clients[0]!.logLength();
    const r = await gqlAt(url, admin, 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id: victim.id });
    assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
    await lab.clients[0]!.waitForLog(/received DELETE for IKE_SA home/, { from: mark, timeoutMs: 5000 });
    assert.equal(await lab.clients[1]!.established(), true, 'the other peer is untouched');
    await waitFor(() => events.some((e) => e.type === 'session.disconnected' && e.session.id === victim.id), 10_000, 'session.disconnected on NATS');
    assert.deepEqual((await rows()).map((x) => x.user.name), ['user2']);
  });
});
