/**
 * The two PostgreSQL roles of docs/many-hosts.md, end to end: the real `switchboard` CLI migrates as
 * the owner and grants the runtime role; a replica refuses to start on a schema it may not migrate;
 * the whole server, running as the runtime role, ends a REAL OpenVPN client's session, audits it and
 * delivers its webhook, while the audit trail stays closed to that role.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { sql } from 'kysely';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { SYSTEM_ACTOR } from '../src/domain/actor.js';
import { KyselyStore } from '../src/store/kysely/kysely-store.js';
import { apiClient, onlineSessions } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient } from './support/openvpn-lab.js';
import { postgresSkipReason } from './support/postgres.js';
import { createDatabaseRoles, type DatabaseRoles } from './support/postgres-roles.js';
import { SwitchboardProcess } from './support/switchboard-process.js';

const skip = (await postgresSkipReason()) || openvpnSkipReason();
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';

/** Runs `switchboard <args>` to its end (bounded) and returns its exit code and output. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const p = SwitchboardProcess.start(`switchboard ${args[0]}`, args, env);
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  await p.waitExited();
  clearTimeout(timer);
  return { code: p.exitCode, out: p.output() };
}

describe('PostgreSQL owner and runtime roles, end to end', { skip }, () => {
  let roles: DatabaseRoles;
  before(async () => {
    roles = await createDatabaseRoles();
  });
  after(async () => {
    await roles?.drop();
  });

  test('the CLI: a replica as the runtime role refuses an unmigrated database; migrate as the owner; then the runtime role works', async () => {
    const early = await cli(['start'], { SWITCHBOARD_DATABASE_URL: roles.runtimeUrl, SWITCHBOARD_PORT: '0' });
    assert.equal(early.code, 1, early.out);
    assert.match(
      early.out,
      new RegExp(
        `^switchboard: SWITCHBOARD_DATABASE_URL: the database schema needs \\d+ migrations and role "${roles.runtime}" may not apply them; run \`switchboard migrate\` as the owner role first`,
        'm',
      ),
    );
    assert.doesNotMatch(early.out, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(early.out, /admin token was created/, 'no bootstrap token minted');

    const migrate = await cli(['migrate', '--runtime-role', roles.runtime], {
      SWITCHBOARD_DATABASE_URL: roles.ownerUrl,
    });
    assert.equal(migrate.code, 0, migrate.out);
    assert.match(migrate.out, new RegExp(`migrating PostgreSQL postgres://${roles.owner}@`));
    assert.match(migrate.out, /^applied 202611291500-initial-schema$/m);
    assert.match(
      migrate.out,
      new RegExp(`^  grant select, insert on table public\\.audit_events to ${roles.runtime};$`, 'm'),
    );

    const again = await cli(['migrate', '--runtime-role', roles.runtime], { SWITCHBOARD_DATABASE_URL: roles.ownerUrl });
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /^the schema is up to date$/m);
    assert.doesNotMatch(again.out, /^applied /m);

    const token = await cli(['token', 'create', '--name', 'ops', '--scope', 'admin'], {
      SWITCHBOARD_DATABASE_URL: roles.runtimeUrl,
    });
    assert.equal(token.code, 0, token.out);
    assert.match(token.out, /^sbt_[a-z0-9]{8}_[a-z0-9]{40}$/m);
  });

  describe('the server as the runtime role, with a real OpenVPN gateway', () => {
    let lab: OpenVpnLab;
    let h: AppHarness;
    let alice: LabClient;
    let receiver: Server;
    let admin: string;
    const deliveries: string[] = [];
    const gw = 'ovpn-roles';

    before(async () => {
      lab = await OpenVpnLab.create();
      const server = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
      const adapter = createAdapter(
        server.gatewayConfig({ id: gw, name: 'Roles', region: 'lab-1', snapshotIntervalMs: 2000 }),
        silentLogger,
      );
      h = await startApp({
        adapters: [adapter],
        databaseUrl: roles.runtimeUrl,
        env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000', SWITCHBOARD_WEBHOOK_POLL_MS: '50' },
      });
      // The CLI test made the first token, so the server minted no bootstrap one.
      admin = h.admin || (await h.app.core.createToken(SYSTEM_ACTOR, { name: 'roles-test', scopes: ['admin'] })).secret;
      receiver = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => {
          deliveries.push(body);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      alice = await server.startClient({ user: 'alice' });
    });
    after(async () => {
      await h?.close();
      await lab?.close();
      receiver?.closeAllConnections();
      await new Promise((resolve) => receiver?.close(resolve));
    });

    test('disconnect, audit and webhook work; the audit rows it wrote stay closed to the role that wrote them', async () => {
      assert.ok(h.app.store instanceof KyselyStore);
      const who = await sql<{ role: string }>`select current_user as role`.execute(h.app.store.db);
      assert.equal(who.rows[0]!.role, roles.runtime, 'the server connects as the runtime role');

      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const created = await h.gql(
        'mutation ($in: CreateWebhookInput!) { createWebhook(input: $in) { webhook { id } } }',
        { in: { url, events: ['SESSION_DISCONNECTED'] } },
        admin,
      );
      assert.equal(created.status, 200, created.text);

      const session = await waitFor(
        async () => (await onlineSessions(apiClient(h.url, admin), gw)).find((s) => s.user.name === 'alice'),
        20_000,
        'alice online',
      );

      const reply = await h.gql(SEED, { onlineSessionId: session.id }, admin);
      assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } }, reply.text);
      await alice.waitExited(10_000);

      const audit = await h.gql(
        'query ($id: String) { auditEvents(first: 5, filter: { targetSessionId: $id }) { edges { node { id action outcome } } } }',
        { id: session.id },
        admin,
      );
      const events = (
        audit.json.data!.auditEvents as { edges: { node: { id: string; action: string; outcome: string } }[] }
      ).edges.map((e) => e.node);
      // The intent (PENDING, before the gateway was asked) and its settlement, newest first.
      assert.deepEqual(
        events.map((e) => [e.action, e.outcome]),
        [
          ['session.disconnect', 'SUCCESS'],
          ['session.disconnect', 'PENDING'],
        ],
      );

      const delivered = await waitFor(
        () => deliveries.find((d) => d.includes(session.id)),
        10_000,
        'the webhook delivery',
      );
      assert.match(delivered, /session\.disconnected/);

      // The role that wrote the row cannot take it back.
      const client = new pg.Client({ connectionString: roles.runtimeUrl });
      await client.connect();
      try {
        await assert.rejects(
          client.query('delete from audit_events where id = $1', [events[0]!.id]),
          /permission denied for table audit_events/,
        );
        await assert.rejects(
          client.query('alter table audit_events disable trigger user'),
          /must be owner of table audit_events/,
        );
        assert.equal((await client.query('select 1 from audit_events where id = $1', [events[0]!.id])).rowCount, 1);
      } finally {
        await client.end();
      }
    });
  });
});
