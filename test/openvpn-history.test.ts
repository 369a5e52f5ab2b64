/**
 * Session history against a REAL OpenVPN server and REAL clients: a user who left by herself and was
 * then disconnected by an operator finds both sessions in `sessionHistory`, ended, with the cause, the
 * operator's token and reason, the duration and the traffic; the same history is found by the client
 * address the console shows. Nothing here is a test double.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { onlineIdOf, sessionHistory, type Gql } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const skip = openvpnSkipReason();
const GW = 'ovpn-history';

describe('session history with real OpenVPN clients', { skip }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;
  let reader: Gql;
  let operator: string;

  /** OpenVPN counts data-channel bytes only: the first keepalive pings (every 10 s) move both counters. */
  const trafficSeen = (id: string) =>
    waitFor(
      async () => {
        const s = await h.app.store.sessions.findById(id);
        return s !== null && s.bytesReceived > 0 && s.bytesSent > 0;
      },
      30_000,
      `${id} carried traffic`,
    );
  const onlineId = (user: string, not?: string) => onlineIdOf(h.gql, GW, user, not);

  before(async () => {
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'observe' });
    const adapter = createAdapter(
      server.gatewayConfig({ id: GW, name: 'History lab', region: 'lab-1', snapshotIntervalMs: 1000 }),
      silentLogger,
    );
    h = await startApp({ adapters: [adapter] });
    const readerToken = await h.token(['sessions:read'], 'history reader');
    reader = (query, variables) => h.gql(query, variables, readerToken);
    operator = await h.token(['sessions:read', 'sessions:disconnect'], 'night shift');
  });
  after(async () => {
    await h?.close();
    await lab?.close();
  });

  test('a session the client ended and one an operator ended are both listed, with cause, actor, duration and traffic', async () => {
    const first = await server.startClient({ user: 'erin' });
    const firstId = await onlineId('erin');
    await trafficSeen(firstId);
    await first.stop();
    await waitFor(async () => (await h.app.store.sessions.findById(firstId))?.endedAt, 20_000, 'first session ended');

    const second = await server.startClient({ user: 'erin' });
    const secondId = await onlineId('erin', firstId);
    await trafficSeen(secondId);
    const r = await h.gql(
      'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome } }',
      { in: { sessionId: secondId, reason: 'shared credentials', mode: 'HALT' } },
      operator,
    );
    assert.equal(r.json.errors, undefined, r.text);
    await second.waitExited(20_000);
    const bystander = await server.startClient({ user: 'frank' });
    const frankId = await onlineId('frank');

    const rows = await sessionHistory(reader, { userName: 'ERIN' });
    assert.deepEqual(
      rows.map((s) => s.id),
      [secondId, firstId],
      'newest first, ended ones included, any case',
    );
    const [byOperator, byClient] = rows;
    assert.equal(byOperator!.endCause, 'ADMIN_DISCONNECT');
    assert.equal(byOperator!.endedBy?.name, 'night shift');
    assert.match(byOperator!.endedBy?.tokenId ?? '', /^tok_/);
    assert.equal(byOperator!.endReason, 'shared credentials');
    assert.equal(byClient!.endCause, 'CLIENT_DISCONNECT');
    assert.equal(byClient!.endedBy, null);
    for (const s of rows) {
      assert.ok(s.endedAt, `${s.id} ended`);
      assert.ok(s.durationSeconds > 0 && s.durationSeconds < 600, `${s.id} lasted ${s.durationSeconds} s`);
      assert.ok(s.bytesReceived > 0 && s.bytesSent > 0, `${s.id} carried traffic both ways`);
      assert.match(s.clientAddress ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(s.gateway?.id, GW);
    }

    // The client address as the console shows it finds that one session; the IP alone finds everyone's.
    const byAddress = await sessionHistory(reader, { address: byClient!.clientAddress });
    assert.deepEqual(
      byAddress.map((s) => s.id),
      [firstId],
    );
    const byIp = (await sessionHistory(reader, { address: '127.0.0.1', gatewayId: GW })).map((s) => s.id);
    assert.deepEqual(byIp, [frankId, secondId, firstId]);
    assert.ok(!bystander.exited, 'the bystander stays connected');
  });
});
