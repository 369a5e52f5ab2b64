/**
 * A token's authority on WebSockets with the real parts around it: a real OpenVPN session that a
 * revoked or expired `sessions:disconnect` socket tries to end (SQLite and PostgreSQL), and two
 * replicas on one PostgreSQL database and the NATS server, whose streams all end when the CLI or
 * the other replica revokes their token.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { randomId } from '../src/domain/ids.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from './support/nats-server.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { onlineIds } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { cliRevoke, mint } from './support/tokens.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';
import { openWsSession } from './support/ws-session.js';
import { openStore } from '../src/store/kysely/kysely-store.js';

const EVENTS = 'subscription { sessionEvents { type session { id } } }';
const BOUND_MS = 10_000;
/** The token watch never re-reads on its own: whatever refuses the disconnect is the per-operation check. */
const NO_POLL_MS = 3_600_000;

const ovpnSkip = openvpnSkipReason();
const pgSkip = await postgresSkipReason();
const natsSkip = await natsSkipReason();

for (const store of [
  { name: 'SQLite', skip: ovpnSkip },
  { name: 'PostgreSQL', skip: ovpnSkip || pgSkip },
]) {
  describe(
    `a revoked disconnect socket cannot end a real OpenVPN session (${store.name})`,
    { skip: store.skip },
    () => {
      const gw = `tra-${randomId(6)}`;
      let lab: OpenVpnLab;
      let server: LabServer;
      let client: LabClient;
      let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>> | null = null;
      let h: AppHarness;

      before(async () => {
        if (store.name === 'PostgreSQL') db = await createFreshPostgresDatabase();
        lab = await OpenVpnLab.create();
        server = await lab.startServer({ proto: 'tcp4', mode: 'observe' });
        h = await startApp({
          databaseUrl: db?.url,
          tokenPollMs: NO_POLL_MS,
          adapters: [createAdapter(server.gatewayConfig({ id: gw, snapshotIntervalMs: 2000 }), silentLogger)],
        });
        client = await server.startClient({ user: 'mallory' });
      });
      after(async () => {
        await h?.close();
        await lab?.close();
        await db?.drop();
      });

      test('the disconnect is refused UNAUTHENTICATED, the session stays online and its client connected', async () => {
        const sessionId = await waitFor(
          async () => (await onlineIds(h.gql, gw)).get('mallory'),
          BOUND_MS,
          'the session to be listed',
        );
        // Revoked by another store connection that announces it nowhere (so the watch, which re-reads
        // nothing here, cannot close the socket first): on SQLite the store's cache sees the commit at
        // once; on PostgreSQL a mutation reads the token's row before it runs.
        const stolen = await mint(h, ['sessions:disconnect']);
        const s = await openWsSession(h.url, stolen.secret);
        try {
          assert.ok(s.acknowledged);
          const other = await openStore(db?.url ?? h.databaseUrl);
          try {
            assert.equal(await other.tokens.revoke(stolen.id, Date.now()), true);
          } finally {
            await other.close();
          }
          const r = await s.run('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
            id: sessionId,
          });
          assert.equal(r.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(r));
          assert.equal(r.data, undefined);
          const still = await h.gql('query ($id: String!) { onlineSession(id: $id) { id } }', { id: sessionId });
          assert.deepEqual(still.json.data, { onlineSession: { id: sessionId } });
          assert.equal(client.exited, false, 'the OpenVPN client is still connected');
          const audit = await h.gql(
            'query ($id: String) { auditEvents(first: 50, filter: { targetSessionId: $id }) { edges { node { action } } } }',
            { id: sessionId },
          );
          assert.deepEqual(audit.json.data, { auditEvents: { edges: [] } }, 'nothing was attempted on the session');
        } finally {
          await s.dispose();
        }
      });
    },
  );
}

describe(
  'two replicas on PostgreSQL and NATS: every stream of a revoked token ends on both',
  { skip: pgSkip || natsSkip },
  () => {
    let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
    let a: AppHarness;
    let b: AppHarness;

    before(async () => {
      db = await createFreshPostgresDatabase();
      const env = { SWITCHBOARD_NATS_URL: TEST_NATS_URL, SWITCHBOARD_NATS_PREFIX: TEST_NATS_PREFIX };
      a = await startApp({ databaseUrl: db.url, env });
      b = await startApp({ databaseUrl: db.url, env });
    });
    after(async () => {
      await b?.close();
      await a?.close();
      await db?.drop();
    });

    for (const how of ['the CLI process', 'the API on replica A']) {
      test(`revoked through ${how}`, async () => {
        const reader = await mint(a, ['sessions:read']);
        const onA = await wsSubscribe(a.url, EVENTS, {}, { token: reader.secret });
        const onB = await wsSubscribe(b.url, EVENTS, {}, { token: reader.secret });
        const sseB = await sseSubscribe(b.url, EVENTS, {}, reader.secret);
        try {
          assert.deepEqual([onA.closeCode, onB.closeCode, sseB.status], [null, null, 200]);
          if (how === 'the CLI process') await cliRevoke(db.url, reader.id);
          else
            assert.equal(
              (await a.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: reader.id })).status,
              200,
            );
          await waitFor(
            () => onA.closeCode !== null && onB.closeCode !== null && sseB.completed,
            BOUND_MS,
            'every stream to end',
          );
          assert.deepEqual([onA.closeCode, onB.closeCode], [4401, 4401]);
          assert.equal(
            (sseB.errors[0] as { extensions: { code: string; reason: string } }[])[0]!.extensions.reason,
            'TOKEN_REVOKED',
          );
        } finally {
          await Promise.all([onA.close(), onB.close(), sseB.close()]);
        }
      });
    }
  },
);
