/**
 * Issue "Events, notifications, bulk disconnects and the audit trail", end to end against REAL
 * OpenVPN: two gateways (UDP observe, TCP authorize) with real clients under one Switchboard.
 * Tests run in order and share the setup.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { onlineRows } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { quietPeriod, waitFor } from './support/wait.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';

const skip = openvpnSkipReason();
const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node { id user { name } gateway { id } } } } }`;
const EVENTS = `subscription ($f: SessionEventFilter) { sessionEvents(filter: $f) {
  id type at cause reason message actor { name tokenId } session { id user { name } gateway { id } virtualAddress endCause } } }`;
const BULK = `mutation ($in: DisconnectSessionsInput!) { disconnectSessions(input: $in) { matched ended alreadyGone failed errors { sessionId code message } } }`;

interface Row {
  id: string;
  user: { name: string };
  gateway: { id: string };
}

describe('events, bulk disconnect and audit against real OpenVPN', { skip }, () => {
  let lab: OpenVpnLab;
  let udp: LabServer;
  let tcp: LabServer;
  let h: AppHarness;
  const gwU = 'ev-udp';
  const gwT = 'ev-tcp';
  const clients: { gw: string; user: string; client: LabClient }[] = [];

  const rows = async (gw?: string): Promise<Row[]> => {
    const r = await h.gql(SESSIONS, { gw: gw ?? null });
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };
  const connect = async (server: LabServer, gw: string, user: string) => {
    const client = await server.startClient({ user });
    clients.push({ gw, user, client });
    return client;
  };
  const online = (gw: string, user: string) =>
    waitFor(async () => (await rows(gw)).find((r) => r.user.name === user), 15_000, `${user} on ${gw}`);

  before(async () => {
    lab = await OpenVpnLab.create();
    [udp, tcp] = await Promise.all([
      lab.startServer({ proto: 'udp4', mode: 'observe' }),
      lab.startServer({ proto: 'tcp4', mode: 'authorize' }),
    ]);
    const adapters = [
      createAdapter(udp.gatewayConfig({ id: gwU, snapshotIntervalMs: 2000 }), silentLogger),
      createAdapter(tcp.gatewayConfig({ id: gwT, snapshotIntervalMs: 2000 }), silentLogger),
    ];
    h = await startApp({ adapters, env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('bulk: a user with sessions on two gateways loses exactly those; another user is untouched', async () => {
    await Promise.all([
      connect(udp, gwU, 'mallory'),
      connect(tcp, gwT, 'mallory'),
      connect(udp, gwU, 'alice'),
      connect(tcp, gwT, 'bob'),
    ]);
    await Promise.all([online(gwU, 'mallory'), online(gwT, 'mallory'), online(gwU, 'alice'), online(gwT, 'bob')]);
    const victims = (await rows()).filter((r) => r.user.name === 'mallory');
    assert.deepEqual(victims.map((r) => r.gateway.id).sort(), [gwT, gwU]);

    const refused = await h.gql(BULK, { in: { reason: 'oops' } });
    assert.equal(refused.json.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', refused.text);
    assert.equal(refused.status, 400);

    const r = await h.gql(BULK, {
      in: { filter: { userName: 'mallory' }, reason: 'account compromised', message: 'Your account is locked' },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data!.disconnectSessions, { matched: 2, ended: 2, alreadyGone: 0, failed: 0, errors: [] });
    for (const c of clients.filter((x) => x.user === 'mallory')) {
      // The message reaches the client: OpenVPN shows it in the HALT it pushes.
      await c.client.waitForLog(/Your account is locked/, { timeoutMs: 5000 });
      await c.client.waitExited(10_000);
    }
    for (const c of clients.filter((x) => x.user !== 'mallory'))
      assert.equal(c.client.exited, false, `${c.user} still running`);
    assert.deepEqual((await rows()).map((r) => r.user.name).sort(), ['alice', 'bob']);
    const audit = await h.app.store.audit.list({
      first: 10,
      filter: { targetUserName: 'mallory', action: 'session.disconnect' },
    });
    // Each disconnect's intent (PENDING, written before the gateway was asked) and its settlement.
    assert.deepEqual(
      audit.rows.map((e) => [e.targetSessionId, e.outcome, e.reason]).sort(),
      victims
        .flatMap((v) => [
          [v.id, 'PENDING', 'account compromised'],
          [v.id, 'SUCCESS', 'account compromised'],
        ])
        .sort(),
    );
  });

  test('a blocked reconnect is audited as session.reconnect_blocked, readable through auditEvents', async () => {
    const erin = await connect(tcp, gwT, 'erin');
    const row = await online(gwT, 'erin');
    const mark = erin.logLength();
    const r = await h.gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: RESTART, blockSeconds: 30, reason: "cool down" }) { outcome } }',
      { id: row.id },
    );
    assert.equal(r.status, 200, r.text);
    await erin.waitForLog(/AUTH_FAILED/, { from: mark, timeoutMs: 15_000 });
    await erin.stop();
    const q = `{ auditEvents(first: 10, filter: { action: "session.reconnect_blocked", targetUserName: "erin" }) {
      edges { node { action outcome actor { name tokenId } target { userName gatewayId } reason metadata } } } }`;
    const audit = await waitFor(
      async () => {
        const reply = await h.gql(q);
        const edges =
          (reply.json.data?.auditEvents as { edges: { node: Record<string, unknown> }[] } | undefined)?.edges ?? [];
        return edges.length > 0 ? edges : null;
      },
      10_000,
      'reconnect_blocked audited',
    );
    const first = audit[0]!.node;
    assert.deepEqual(
      { ...first, reason: String(first.reason).replace(/\d+/, 'N'), metadata: undefined },
      {
        action: 'session.reconnect_blocked',
        outcome: 'SUCCESS',
        actor: { name: 'switchboard', tokenId: null },
        target: { userName: 'erin', gatewayId: gwT },
        reason: 'blocked by switchboard for N s',
        metadata: undefined,
      },
    );
    assert.match(JSON.parse(first.metadata as string).clientAddress, /^127\.0\.0\.1:\d+$/);
  });

  test('subscriptions over WebSocket and SSE get connect and disconnect events of real clients, filtered', async () => {
    const reader = await h.token(['sessions:read'], 'watcher');
    const wsFrank = await wsSubscribe(
      h.url,
      EVENTS,
      { f: { userName: 'frank' } },
      { authorization: `Bearer ${reader}` },
    );
    const sseFrankEnds = await sseSubscribe(
      h.url,
      EVENTS,
      { f: { userName: 'frank', types: ['SESSION_DISCONNECTED'] } },
      reader,
    );
    const wsOtherGateway = await wsSubscribe(h.url, EVENTS, { f: { gatewayId: gwT } }, { token: reader });
    try {
      assert.equal(sseFrankEnds.status, 200);
      const frank = await connect(udp, gwU, 'frank');
      const [connected] = await wsFrank.waitFor(1);
      const row = await online(gwU, 'frank');
      assert.deepEqual((connected!.sessionEvents as Record<string, unknown>).type, 'SESSION_CONNECTED');
      assert.deepEqual((connected!.sessionEvents as { session: unknown }).session, {
        id: row.id,
        user: { name: 'frank' },
        gateway: { id: gwU },
        virtualAddress: (connected!.sessionEvents as { session: { virtualAddress: string } }).session.virtualAddress,
        endCause: null,
      });
      const r = await h.gql(
        'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "policy", message: "Bye for now" }) { outcome } }',
        { id: row.id },
      );
      assert.equal(r.status, 200, r.text);
      await frank.waitExited(10_000);
      const [, ended] = await wsFrank.waitFor(2);
      const [sseEnded] = await sseFrankEnds.waitFor(1);
      const expected = {
        type: 'SESSION_DISCONNECTED',
        cause: 'ADMIN_DISCONNECT',
        reason: 'policy',
        message: 'Bye for now',
        actor: {
          name: 'bootstrap-admin',
          tokenId: (ended!.sessionEvents as { actor: { tokenId: string } }).actor.tokenId,
        },
      };
      for (const e of [ended!, sseEnded!]) {
        const ev = e.sessionEvents as Record<string, unknown> & { session: { id: string; endCause: string } };
        assert.deepEqual(
          { type: ev.type, cause: ev.cause, reason: ev.reason, message: ev.message, actor: ev.actor },
          expected,
        );
        assert.equal(ev.session.id, row.id);
        assert.equal(ev.session.endCause, 'ADMIN_DISCONNECT');
      }
      assert.equal(
        (ended!.sessionEvents as { id: string }).id,
        (sseEnded!.sessionEvents as { id: string }).id,
        'the same event on both transports',
      );
      await quietPeriod(300);
      assert.equal(sseFrankEnds.events.length, 1, 'the SSE filter let only the disconnect through');
      assert.ok(
        wsOtherGateway.events.every(
          (e) => (e.sessionEvents as { session: { gateway: { id: string } } }).session.gateway.id === gwT,
        ),
        'gateway filter respected',
      );
      assert.ok(
        !wsOtherGateway.events.some(
          (e) => (e.sessionEvents as { session: { user: { name: string } } }).session.user.name === 'frank',
        ),
      );
    } finally {
      await Promise.all([wsFrank.close(), sseFrankEnds.close(), wsOtherGateway.close()]);
    }
  });

  test('subscriptions refuse a bad token (WebSocket 4403, SSE 401) and a token without sessions:read', async () => {
    const ws = await wsSubscribe(
      h.url,
      EVENTS,
      {},
      { authorization: 'Bearer sbt_aaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' },
    );
    await waitFor(() => ws.closeCode !== null, 5000, 'socket closed');
    assert.equal(ws.closeCode, 4403);
    const noToken = await wsSubscribe(h.url, EVENTS, {}, {});
    await waitFor(() => noToken.closeCode !== null, 5000, 'socket closed');
    assert.equal(noToken.closeCode, 4403);
    const sse = await sseSubscribe(h.url, EVENTS, {}, 'not-a-token');
    assert.equal(sse.status, 401);
    const auditor = await h.token(['audit:read'], 'auditor');
    const forbidden = await wsSubscribe(h.url, EVENTS, {}, { token: auditor });
    await waitFor(() => forbidden.errors.length > 0, 5000, 'FORBIDDEN error');
    assert.match(JSON.stringify(forbidden.errors), /"code":"FORBIDDEN"/);
    const sseForbidden = await sseSubscribe(h.url, EVENTS, {}, auditor);
    await waitFor(() => sseForbidden.errors.length > 0, 5000, 'FORBIDDEN error over SSE');
    assert.match(JSON.stringify(sseForbidden.errors), /"code":"FORBIDDEN"/);
    await Promise.all([ws.close(), noToken.close(), sse.close(), forbidden.close(), sseForbidden.close()]);
  });

  test('revoking a token ends its live subscriptions on both transports at once, each saying why', async () => {
    const created = await h.gql(
      'mutation { createToken(input: { name: "short-lived", scopes: ["sessions:read"] }) { secret token { id } } }',
    );
    const { secret, token } = created.json.data!.createToken as { secret: string; token: { id: string } };
    const ws = await wsSubscribe(h.url, EVENTS, {}, { token: secret });
    const sse = await sseSubscribe(h.url, EVENTS, {}, secret);
    const other = await wsSubscribe(h.url, EVENTS, {}, { token: h.admin });
    try {
      const r = await h.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: token.id });
      assert.equal(r.status, 200, r.text);
      // The socket is closed with 4401; the SSE stream's last event is the coded error, then `complete`.
      await waitFor(() => ws.closeCode !== null && sse.completed, 5000, 'both subscriptions ended');
      assert.equal(ws.closeCode, 4401);
      assert.deepEqual(sse.errors, [
        [{ message: 'The API token was revoked', extensions: { code: 'UNAUTHENTICATED', reason: 'TOKEN_REVOKED' } }],
      ]);
      await quietPeriod(100);
      assert.equal(other.completed, false, "another token's subscription goes on");
      assert.equal(other.closeCode, null);
    } finally {
      await Promise.all([ws.close(), sse.close(), other.close()]);
    }
  });
});
