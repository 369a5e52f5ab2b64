/**
 * Live events across replicas: two Switchboards on one PostgreSQL database and the NATS server, a
 * real OpenVPN gateway attached to replica A only, a subscriber on replica B (WebSocket and SSE).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { randomId } from '../src/domain/ids.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from './support/nats-server.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { quietPeriod, waitFor } from './support/wait.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';

const skip = openvpnSkipReason() || (await postgresSkipReason()) || (await natsSkipReason());
const EVENTS = `subscription ($f: SessionEventFilter) { sessionEvents(filter: $f) { type cause actor { name } session { id user { name } gateway { id } } } }`;

describe('a subscriber on replica B sees events caused through replica A', { skip }, () => {
  const gw = `evr-${randomId(6)}`; // the NATS server is shared: ids unique per run
  let lab: OpenVpnLab;
  let server: LabServer;
  let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  let a: AppHarness;
  let b: AppHarness;

  before(async () => {
    db = await createFreshPostgresDatabase();
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'tcp4', mode: 'observe' });
    const env = { SWITCHBOARD_NATS_URL: TEST_NATS_URL, SWITCHBOARD_NATS_PREFIX: TEST_NATS_PREFIX };
    a = await startApp({
      databaseUrl: db.url,
      env,
      adapters: [createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger)],
    });
    b = await startApp({ databaseUrl: db.url, env, adapters: [] });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await lab?.close();
    await db?.drop();
  });

  test('connect and an admin disconnect through A arrive on B over both transports', async () => {
    const reader = await a.token(['sessions:read'], 'replica-watcher');
    const ws = await wsSubscribe(b.url, EVENTS, { f: { gatewayId: gw } }, { token: reader });
    const sse = await sseSubscribe(b.url, EVENTS, { f: { gatewayId: gw } }, reader);
    try {
      const client = await server.startClient({ user: 'grace' });
      const [connected] = await ws.waitFor(1);
      const id = (connected!.sessionEvents as { session: { id: string } }).session.id;
      const r = await a.gql('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id });
      assert.deepEqual(r.json, { data: { disconnectBySessionId: true } }, r.text);
      await client.waitExited(10_000);
      for (const sub of [ws, sse]) {
        const events = await sub.waitFor(2);
        assert.deepEqual(
          events.map((e) => e.sessionEvents),
          [
            {
              type: 'SESSION_CONNECTED',
              cause: null,
              actor: null,
              session: { id, user: { name: 'grace' }, gateway: { id: gw } },
            },
            {
              type: 'SESSION_DISCONNECTED',
              cause: 'ADMIN_DISCONNECT',
              actor: { name: 'bootstrap-admin' },
              session: { id, user: { name: 'grace' }, gateway: { id: gw } },
            },
          ],
        );
      }
      await quietPeriod(300);
      assert.equal(ws.events.length, 2, 'each event announced once, though both replicas apply every report');
      await waitFor(() => sse.events.length === 2, 1000, 'no duplicate over SSE');
    } finally {
      await Promise.all([ws.close(), sse.close()]);
    }
  });
});
