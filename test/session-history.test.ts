/**
 * Session history through the whole running Switchboard (real store, sync and API, a gateway test
 * double): a user's and an address's sessions, ended ones with cause, actor, duration and traffic,
 * over HTTP and WebSocket; a token without sessions:read is refused; bad input is refused on every
 * transport. The real-OpenVPN journey is in openvpn-history.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { SESSION_HISTORY, sessionHistory, type HistoryRow } from './support/api-client.js';
import { overSse, overWebSocket } from './support/graphql-transports.js';
import { openWsSession } from './support/ws-session.js';
import { waitFor } from './support/wait.js';

describe('sessionHistory', () => {
  const gw = new FakeAdapter({ id: 'gw-history' });
  let h: AppHarness;
  let reader: string;
  let operatorTokenName: string;
  const ids: string[] = [];

  const stored = (ref: string) =>
    waitFor(async () => (await h.app.store.sessions.findByRef('gw-history', ref))?.id, 5000, `session ${ref} stored`);

  before(async () => {
    h = await startApp({ adapters: [gw] });
    reader = await h.token(['sessions:read'], 'history reader');
    operatorTokenName = 'oncall';
    const operator = await h.token(['sessions:read', 'sessions:disconnect'], operatorTokenName);

    // Alice's first session ends by itself, her second by an operator; her third and Bob's are online.
    const r1 = gw.connect('Alice', { clientAddress: '198.51.100.40:41001', bytesReceived: 1000, bytesSent: 2000 });
    ids.push(await stored(r1.ref));
    gw.quit(r1.ref);
    await waitFor(async () => (await h.app.store.sessions.findById(ids[0]!))?.endedAt != null, 5000, 'r1 ended');
    const r2 = gw.connect('alice', { clientAddress: '198.51.100.40:41002', connectedAt: Date.now() + 1 });
    ids.push(await stored(r2.ref));
    const ended = await h.gql(
      'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome } }',
      { in: { sessionId: ids[1], reason: 'history test' } },
      operator,
    );
    assert.equal(ended.json.errors, undefined, ended.text);
    const r3 = gw.connect('ALICE', { clientAddress: '198.51.100.41:41003', connectedAt: Date.now() + 2 });
    ids.push(await stored(r3.ref));
    const r4 = gw.connect('bob', { clientAddress: '198.51.100.40:41004', connectedAt: Date.now() + 3 });
    ids.push(await stored(r4.ref));
  });
  after(() => h?.close());

  test('a user’s sessions, any case, newest first: cause, actor, reason, duration and traffic of each', async () => {
    const rows = await sessionHistory((q, v) => h.gql(q, v, reader), { userName: 'aLiCe' });
    assert.deepEqual(
      rows.map((r) => r.id),
      [ids[2], ids[1], ids[0]],
    );
    const [online, byOperator, byClient] = rows as [HistoryRow, HistoryRow, HistoryRow];
    assert.equal(online.endedAt, null);
    assert.equal(online.endCause, null);
    assert.ok(online.durationSeconds >= 0);
    assert.equal(byOperator.endCause, 'ADMIN_DISCONNECT');
    assert.equal(byOperator.endedBy?.name, operatorTokenName);
    assert.match(byOperator.endedBy?.tokenId ?? '', /^tok_/);
    assert.equal(byOperator.endReason, 'history test');
    assert.equal(byClient.endCause, 'CLIENT_DISCONNECT');
    assert.equal(byClient.endedBy, null, 'a client that left was ended by no one');
    assert.equal(byClient.bytesReceived, 1000);
    assert.equal(byClient.bytesSent, 2000);
    for (const r of [byOperator, byClient]) {
      assert.equal(r.durationSeconds, (Date.parse(r.endedAt!) - Date.parse(r.connectedAt)) / 1000);
      assert.equal(r.gateway?.id, 'gw-history');
      assert.equal(r.protocol, 'openvpn');
    }
  });

  test('an address as the console shows it: the IP alone, or ip:port; everyone’s history lists all', async () => {
    const call = (q: string, v?: Record<string, unknown>) => h.gql(q, v, reader);
    const byIp = await sessionHistory(call, { address: '198.51.100.40' });
    assert.deepEqual(
      byIp.map((r) => r.id),
      [ids[3], ids[1], ids[0]],
    );
    const byPort = await sessionHistory(call, { address: '198.51.100.40:41002' });
    assert.deepEqual(
      byPort.map((r) => r.id),
      [ids[1]],
    );
    const ended = await sessionHistory(call, { gatewayId: 'gw-history', ended: true });
    assert.deepEqual(
      ended.map((r) => r.id),
      [ids[1], ids[0]],
    );
    assert.deepEqual(
      (await sessionHistory(call, {})).map((r) => r.id),
      [...ids].reverse(),
    );
  });

  test('pages by cursor with totalCount; WebSocket answers the same as HTTP', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const reply = await h.gql(SESSION_HISTORY, { f: { userName: 'alice' }, first: 1, after }, reader);
      const page = reply.json.data?.sessionHistory as {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string };
        edges: { node: { id: string } }[];
      };
      assert.equal(page.totalCount, 3);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(seen, [ids[2], ids[1], ids[0]]);

    const overHttp = await h.gql(SESSION_HISTORY, { f: { address: '198.51.100.40' } }, reader);
    const ws = await openWsSession(h.url, reader);
    try {
      const overWs = await ws.run(SESSION_HISTORY, { f: { address: '198.51.100.40' } });
      assert.equal(overWs.errors, undefined, JSON.stringify(overWs.errors));
      // durationSeconds of an online session grows between the two reads; the rest is the same.
      const stable = (data: unknown) => JSON.stringify(data).replace(/"durationSeconds":[0-9.e+-]+/g, '');
      assert.equal(stable(overWs.data), stable(overHttp.json.data));
    } finally {
      await ws.dispose();
    }
  });

  test('a token without sessions:read is refused (403 FORBIDDEN over HTTP, FORBIDDEN over WebSocket and SSE)', async () => {
    const auditor = await h.token(['audit:read'], 'auditor only');
    const reply = await h.gql(SESSION_HISTORY, { f: { userName: 'alice' } }, auditor);
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.equal(reply.json.data, null);
    const op = { query: SESSION_HISTORY, variables: { f: { userName: 'alice' } } };
    for (const answer of [await overWebSocket(h.url, auditor, op), await overSse(h.url, auditor, op)]) {
      assert.equal(answer.code, 'FORBIDDEN', answer.message);
      assert.equal(answer.data, false);
    }
  });

  test('bad input gets a clear error on HTTP, WebSocket and SSE, and the server keeps serving', async () => {
    const cases = [
      { variables: { first: 0 }, code: 'BAD_USER_INPUT', message: /first must be an integer from 1 to 500/ },
      { variables: { first: 501 }, code: 'BAD_USER_INPUT', message: /first must be an integer from 1 to 500/ },
      { variables: { after: 'not-a-cursor!' }, code: 'BAD_CURSOR', message: /cursor/ },
      { variables: { f: { address: '1'.repeat(500) } }, code: 'BAD_USER_INPUT', message: /address/ },
      { variables: { f: { userName: 'alice\u0000' } }, code: 'BAD_USER_INPUT', message: /userName/ },
    ];
    for (const c of cases) {
      const op = { query: SESSION_HISTORY, variables: c.variables };
      const http = await h.gql(SESSION_HISTORY, c.variables, reader);
      assert.equal(http.status, 400, http.text);
      assert.equal(http.json.errors?.[0]?.extensions?.code, c.code, http.text);
      assert.match(http.json.errors?.[0]?.message ?? '', c.message);
      for (const answer of [await overWebSocket(h.url, reader, op), await overSse(h.url, reader, op)]) {
        assert.equal(answer.code, c.code, `${JSON.stringify(c.variables)}: ${answer.message}`);
        assert.match(answer.message, c.message);
      }
    }
    assert.equal((await sessionHistory((q, v) => h.gql(q, v, reader), { userName: 'bob' })).length, 1);
  });
});
