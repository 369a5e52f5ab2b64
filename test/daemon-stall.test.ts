/**
 * A real OpenVPN daemon stalled with SIGSTOP: the agent's liveness probe turns the gateway "not
 * responding", a disconnect then fails at once as NOT_SENT (the kill is never queued behind the
 * stall, so the daemon does not run it when it resumes), and after SIGCONT the gateway responds
 * again and disconnects work. Outcomes and orders are asserted, never durations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { subjects } from '../src/bus/bus.js';
import { silentLogger } from '../src/domain/logger.js';
import { disconnectReplySchema, readWire, versioned } from '../src/core/reports.js';
import { createAdapter } from '../src/main.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { onlineIds } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const SEED = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const GATEWAY = '{ gateways { id agentConnected daemonResponding statusSince lastError lastErrorAt } }';

interface GatewayStatus {
  id: string;
  agentConnected: boolean;
  daemonResponding: boolean;
  statusSince: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

describe('a stalled OpenVPN daemon (SIGSTOP)', { skip: openvpnSkipReason() }, () => {
  const gw = 'ovpn-stall';
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;
  const clients = new Map<string, LabClient>();
  let stopped = false;

  const gateway = async () => {
    const r = await h.gql(GATEWAY);
    assert.equal(r.status, 200, r.text);
    return (r.json.data!.gateways as GatewayStatus[]).find((g) => g.id === gw)!;
  };
  const sessionOf = async (user: string) =>
    waitFor(async () => (await onlineIds(h.gql, gw)).get(user), 15_000, `${user} online`);

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'tcp4', mode: 'authorize' });
    const adapter = createAdapter(server.gatewayConfig({ id: gw, name: 'Stall', region: 'lab' }), silentLogger, {
      intervalMs: 300,
      timeoutMs: 700,
    });
    h = await startApp({
      adapters: [adapter],
      env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '2000', SWITCHBOARD_GATEWAY_LIVENESS_MS: '3000' },
    });
    for (const user of ['alice', 'bob']) clients.set(user, await server.startClient({ user }));
  });
  after(async () => {
    if (stopped) server?.signal('SIGCONT');
    await h?.close();
    await lab?.close();
  });

  test('responding while it answers; not responding once stopped; a disconnect then is NOT_SENT and never runs; after SIGCONT it responds and disconnects work', async () => {
    const alice = await sessionOf('alice');
    const bob = await sessionOf('bob');
    const healthy = await gateway();
    assert.deepEqual(
      { ...healthy, statusSince: healthy.statusSince !== null },
      { id: gw, agentConnected: true, daemonResponding: true, statusSince: true, lastError: null, lastErrorAt: null },
    );

    server.signal('SIGSTOP');
    stopped = true;
    await waitFor(async () => !(await gateway()).daemonResponding, 15_000, 'daemonResponding false');
    const stalled = await gateway();
    assert.equal(stalled.agentConnected, true, 'the link itself is still up: only the probe tells');
    // Why and since when, for operators: the stall is the last error, and the status changed with it.
    assert.equal(stalled.lastError, 'the daemon does not answer the liveness probe');
    assert.ok(stalled.lastErrorAt !== null && stalled.statusSince !== null);
    assert.ok(Date.parse(stalled.statusSince) > Date.parse(healthy.statusSince!), 'the status changed');
    assert.ok(Date.parse(stalled.statusSince) >= Date.parse(stalled.lastErrorAt), 'not before its cause');

    // The agent's own answer: the kill was not handed to the daemon.
    const raw = await h.app.bus.request(
      subjects.gatewayDisconnect(gw),
      versioned({ ref: '0:0', userName: 'alice', mode: 'HALT', message: null, blockSeconds: null, deadlineMs: 2000 }),
      { timeoutMs: 3000 },
    );
    const reply = readWire(disconnectReplySchema, raw);
    assert.ok(reply.ok);
    assert.equal(reply.value.outcome, 'NOT_SENT');

    // Through the API: 503 GATEWAY_UNAVAILABLE, and the session is still online.
    const r = await h.gql(SEED, { id: alice });
    assert.equal(r.status, 503, r.text);
    const error = r.json.errors?.[0] as { extensions?: { code?: string; disconnect?: string } } | undefined;
    assert.equal(error?.extensions?.code, 'GATEWAY_UNAVAILABLE');
    assert.equal(error?.extensions?.disconnect, 'NOT_SENT');
    assert.equal((await h.app.store.sessions.findOnline(alice))?.id, alice);

    server.signal('SIGCONT');
    stopped = false;
    await waitFor(async () => (await gateway()).daemonResponding, 15_000, 'daemonResponding true again');
    const resumed = await gateway();
    assert.equal(resumed.lastError, stalled.lastError, 'the last error is kept after recovery');
    assert.equal(resumed.lastErrorAt, stalled.lastErrorAt, 'with its time: later probes did not move it');
    assert.ok(Date.parse(resumed.statusSince!) > Date.parse(stalled.statusSince), 'healthy since the resume');

    // Commands run in order: had alice's kill been queued during the stall, it would have run before bob's.
    const ok = await h.gql(SEED, { id: bob });
    assert.deepEqual(ok.json, { data: { disconnectBySessionId: true } }, ok.text);
    await clients.get('bob')!.waitForLog(/server-pushed-halt|Halt command was pushed by server/, { timeoutMs: 10_000 });
    const aliceClient = clients.get('alice')!;
    assert.equal(aliceClient.exited, false, 'alice was never killed');
    assert.doesNotMatch(aliceClient.log(), /Halt command was pushed by server|server-pushed-halt/);
    assert.equal((await h.app.store.sessions.findOnline(alice))?.id, alice, 'alice is still online');
  });
});
