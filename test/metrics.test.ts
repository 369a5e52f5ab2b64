/**
 * `GET /metrics` after real traffic: a real OpenVPN gateway with two real clients, a disconnect of one
 * through the seed's mutation, a read, a refused token — then one scrape, parsed as Prometheus text,
 * must show each of them (operations by outcome, the disconnect by gateway, sessions online, the link,
 * refusals, readiness, process metrics). Access: a token is required by default; `off` serves nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { ONLINE_SESSIONS, onlineSessions } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const skip = openvpnSkipReason();
const GW = 'ovpn-metrics';
const SEED = 'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';

/** `name{labels} value` lines → value by `name{labels}` (labels as printed). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('GET /metrics after real traffic', { skip, timeout: 120_000 }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'metrics-mgmt-pw' });
    const adapter = createAdapter(server.gatewayConfig({ id: GW, name: 'Metrics lab', region: 'lab-1', snapshotIntervalMs: 2000 }), silentLogger);
    h = await startApp({ adapters: [adapter], env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
    await Promise.all(['alice', 'bob'].map((user) => server.startClient({ user })));
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('operations, the disconnect, sessions, the link, refusals, readiness and the process are all there', async () => {
    const rows = await waitFor(async () => {
      const listed = await onlineSessions(h.gql, GW);
      return listed.length === 2 ? listed : null;
    }, 30_000, 'both clients listed');
    const alice = rows.find((s) => s.user.name === 'alice')!.id;
    assert.deepEqual((await h.gql(SEED, { onlineSessionId: alice })).json, { data: { disconnectBySessionId: true } });
    assert.equal((await h.gql(SEED, { onlineSessionId: 'sess_nosuchsession' })).status, 400);
    assert.equal((await h.gql(ONLINE_SESSIONS, { gw: GW }, 'sbt_not_a_real_token')).status, 401);
    await waitFor(async () => (await onlineSessions(h.gql, GW)).length === 1, 10_000, 'alice gone');

    const reader = await h.token(['sessions:read'], 'prometheus');
    const res = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parse(await res.text());

    assert.equal(m.get('switchboard_api_operations_total{transport="http",operation="disconnectBySessionId",outcome="OK"}'), 1);
    assert.equal(m.get('switchboard_api_operations_total{transport="http",operation="disconnectBySessionId",outcome="SESSION_NOT_FOUND"}'), 1);
    assert.ok((m.get('switchboard_api_operations_total{transport="http",operation="onlineSessions",outcome="OK"}') ?? 0) >= 2);
    assert.ok(m.has('switchboard_api_operation_duration_seconds_bucket{le="0.005",transport="http",operation="disconnectBySessionId",outcome="OK"}'));
    assert.equal(m.get(`switchboard_disconnect_duration_seconds_count{gateway="${GW}",outcome="DISCONNECTED"}`), 1);
    assert.equal(m.get('switchboard_disconnect_duration_seconds_count{gateway="unknown",outcome="SESSION_NOT_FOUND"}'), 1);
    assert.equal(m.get('switchboard_api_refusals_total{transport="http",reason="UNAUTHENTICATED"}'), 1);
    assert.equal(m.get(`switchboard_gateway_sessions_online{gateway="${GW}"}`), 1);
    assert.equal(m.get(`switchboard_gateway_agent_connected{gateway="${GW}"}`), 1);
    assert.ok((m.get(`switchboard_gateway_last_heard_seconds{gateway="${GW}"}`) ?? -1) >= 0);
    assert.equal(m.get('switchboard_ready'), 1);
    assert.equal(m.get('switchboard_readiness_check{check="store"}'), 1);
    assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(m.has('nodejs_eventloop_lag_seconds'));
  });

  test('a scrape needs a valid token by default; nothing secret is in it', async () => {
    assert.equal((await fetch(`${h.url}/metrics`)).status, 401);
    const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.admin}` } })).text();
    assert.doesNotMatch(text, /sbt_|metrics-mgmt-pw|sess_/);
  });
});

describe('SWITCHBOARD_METRICS', { timeout: 60_000 }, () => {
  test('off: /metrics is not served; open: served without a token', async () => {
    const off = await startApp({ env: { SWITCHBOARD_METRICS: 'off' } });
    try {
      assert.equal((await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${off.admin}` } })).status, 404);
    } finally {
      await off.close();
    }
    const open = await startApp({ env: { SWITCHBOARD_METRICS: 'open' } });
    try {
      const res = await fetch(`${open.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^switchboard_ready 1$/m);
    } finally {
      await open.close();
    }
  });
});
