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
import { openWsSession } from './support/ws-session.js';
import { overSse } from './support/graphql-transports.js';

const skip = openvpnSkipReason();
const GW = 'ovpn-metrics';
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';

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

/** An SSE subscription held open until the returned controller aborts it (as a browser tab that closes). */
async function openSseStream(baseUrl: string, token: string): Promise<AbortController> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}/graphql/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: 'subscription { sessionEvents { type } }' }),
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  return abort;
}

describe('GET /metrics after real traffic', { skip, timeout: 120_000 }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'metrics-mgmt-pw' });
    const adapter = createAdapter(
      server.gatewayConfig({ id: GW, name: 'Metrics lab', region: 'lab-1', snapshotIntervalMs: 2000 }),
      silentLogger,
    );
    // Small caps, so that the refusals below are real ones; fast probes, so that a stall shows.
    h = await startApp({
      adapters: [adapter],
      env: {
        SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000',
        SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_SOCKET: '1',
        SWITCHBOARD_MAX_STREAMS_PER_TOKEN: '2',
        SWITCHBOARD_DAEMON_PROBE_INTERVAL_MS: '300',
        SWITCHBOARD_DAEMON_PROBE_TIMEOUT_MS: '500',
        SWITCHBOARD_HEARTBEAT_MS: '300',
      },
    });
    await Promise.all(['alice', 'bob'].map((user) => server.startClient({ user })));
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('operations, the disconnect, sessions, the link, refusals, readiness and the process are all there', async () => {
    const rows = await waitFor(
      async () => {
        const listed = await onlineSessions(h.gql, GW);
        return listed.length === 2 ? listed : null;
      },
      30_000,
      'both clients listed',
    );
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

    assert.equal(
      m.get('switchboard_api_operations_total{transport="http",operation="disconnectBySessionId",outcome="OK"}'),
      1,
    );
    assert.equal(
      m.get(
        'switchboard_api_operations_total{transport="http",operation="disconnectBySessionId",outcome="SESSION_NOT_FOUND"}',
      ),
      1,
    );
    assert.ok(
      (m.get('switchboard_api_operations_total{transport="http",operation="onlineSessions",outcome="OK"}') ?? 0) >= 2,
    );
    assert.ok(
      m.has(
        'switchboard_api_operation_duration_seconds_bucket{le="0.005",transport="http",operation="disconnectBySessionId",outcome="OK"}',
      ),
    );
    assert.equal(m.get(`switchboard_disconnect_duration_seconds_count{gateway="${GW}",outcome="DISCONNECTED"}`), 1);
    assert.equal(
      m.get('switchboard_disconnect_duration_seconds_count{gateway="unknown",outcome="SESSION_NOT_FOUND"}'),
      1,
    );
    assert.equal(m.get('switchboard_api_refusals_total{transport="http",reason="UNAUTHENTICATED"}'), 1);
    assert.equal(m.get(`switchboard_gateway_sessions_online{gateway="${GW}"}`), 1);
    assert.equal(m.get(`switchboard_gateway_agent_connected{gateway="${GW}"}`), 1);
    assert.equal(m.get(`switchboard_gateway_daemon_responding{gateway="${GW}"}`), 1);
    assert.ok((m.get(`switchboard_gateway_last_heard_seconds{gateway="${GW}"}`) ?? -1) >= 0);
    assert.equal(m.get('switchboard_ready'), 1);
    assert.equal(m.get('switchboard_readiness_check{check="store"}'), 1);
    assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(m.has('nodejs_eventloop_lag_seconds'));
  });

  test("WebSocket and SSE operations, cap refusals, open streams, a webhook endpoint's queue and a stalled daemon are there too", async () => {
    const scrape = async () =>
      parse(await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.admin}` } })).text());
    // Over WebSocket: a query, a bad document, and a second subscription on a socket capped at one.
    const ws = await openWsSession(h.url, h.admin);
    const events = ws.run('subscription { sessionEvents { type } }');
    await waitFor(
      async () =>
        (await scrape()).get(
          'switchboard_api_operations_total{transport="ws",operation="sessionEvents",outcome="OK"}',
        ) === 1,
      10_000,
      'the subscription counted',
    );
    assert.match(JSON.stringify(await ws.run('{ gateways { id } }')), /TOO_MANY_SUBSCRIPTIONS/);
    let m = await scrape();
    assert.equal(m.get('switchboard_api_open_streams{transport="ws"}'), 1);
    await ws.dispose();
    await events.catch(() => {});
    const ws2 = await openWsSession(h.url, h.admin);
    assert.ok((await ws2.run(ONLINE_SESSIONS, { gw: GW })).data);
    assert.ok((await ws2.run('{ nosuchfield }')).errors);
    await ws2.dispose();
    // Over SSE: a query, and streams past the token's cap of two.
    assert.equal((await overSse(h.url, h.admin, { query: ONLINE_SESSIONS, variables: { gw: GW } })).code, undefined);
    const reader = await h.token(['sessions:read'], 'sse-reader');
    const streams = [await openSseStream(h.url, reader), await openSseStream(h.url, reader)];
    await waitFor(
      async () => (await scrape()).get('switchboard_api_open_streams{transport="sse"}') === 2,
      10_000,
      'two SSE streams open',
    );
    assert.equal((await overSse(h.url, reader, { query: ONLINE_SESSIONS })).code, 'TOO_MANY_STREAMS');
    // A webhook whose endpoint refuses connections: its deliveries wait.
    const hook = await h.gql('mutation ($in: CreateWebhookInput!) { createWebhook(input: $in) { webhook { id } } }', {
      in: { url: 'http://127.0.0.1:9/never', events: ['SESSION_CONNECTED'] },
    });
    const hookId = (hook.json.data?.createWebhook as { webhook: { id: string } } | undefined)?.webhook.id;
    assert.ok(hookId, hook.text);
    await server.startClient({ user: 'carol' });
    m = await waitFor(
      async () => {
        const s = await scrape();
        return (s.get(`switchboard_webhook_queue_depth{webhook="${hookId}"}`) ?? 0) >= 1 ? s : null;
      },
      20_000,
      'the delivery queued',
    );
    assert.ok((m.get(`switchboard_webhook_queue_oldest_seconds{webhook="${hookId}"}`) ?? -1) >= 0);
    assert.equal(m.get('switchboard_api_operations_total{transport="ws",operation="onlineSessions",outcome="OK"}'), 1);
    assert.equal(
      m.get('switchboard_api_operations_total{transport="ws",operation="invalid",outcome="GRAPHQL_VALIDATION_FAILED"}'),
      1,
    );
    assert.ok(
      m.has('switchboard_api_operation_duration_seconds_count{transport="ws",operation="onlineSessions",outcome="OK"}'),
    );
    assert.equal(m.get('switchboard_api_refusals_total{transport="ws",reason="TOO_MANY_SUBSCRIPTIONS"}'), 1);
    assert.equal(m.get('switchboard_api_operations_total{transport="sse",operation="onlineSessions",outcome="OK"}'), 1);
    assert.equal(m.get('switchboard_api_operations_total{transport="sse",operation="sessionEvents",outcome="OK"}'), 2);
    for (const s of streams) s.abort();
    assert.equal(m.get('switchboard_api_refusals_total{transport="sse",reason="TOO_MANY_STREAMS"}'), 1);
    // Every stream was closed by its client; the server sees it go at once, not at the next event.
    await waitFor(
      async () => {
        const s = await scrape();
        return (
          s.get('switchboard_api_open_streams{transport="ws"}') === 0 &&
          s.get('switchboard_api_open_streams{transport="sse"}') === 0
        );
      },
      10_000,
      'no stream open',
    );
    assert.equal(m.get('switchboard_readiness_check{check="bus"}'), 1);
    // The daemon stalls: the gauge says so, and comes back when it resumes.
    server.signal('SIGSTOP');
    try {
      await waitFor(
        async () => (await scrape()).get(`switchboard_gateway_daemon_responding{gateway="${GW}"}`) === 0,
        20_000,
        'the stall seen',
      );
    } finally {
      server.signal('SIGCONT');
    }
    await waitFor(
      async () => (await scrape()).get(`switchboard_gateway_daemon_responding{gateway="${GW}"}`) === 1,
      20_000,
      'the daemon answering again',
    );
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
      assert.equal(
        (await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${off.admin}` } })).status,
        404,
      );
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
