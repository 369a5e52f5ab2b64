/**
 * Issue 14, "events cannot be lost between commit and publish" and "a partitioned replica is not
 * silent", with real processes: two `switchboard start` replicas on one fresh PostgreSQL database,
 * each on a nats-server of its own (so each one's bus can be cut alone), a `switchboard agent` with a
 * real OpenVPN gateway next to replica A, and real graphql-ws / graphql-sse subscribers on replica B.
 *
 * The window between commit and publish is made deterministic: replica A's end of a session waits on
 * a row lock the test holds, A's bus is cut meanwhile, then the lock is released. A commits the end
 * with its event in the outbox but can publish nothing, and is killed with SIGKILL. The event must
 * still reach B's subscribers once, with its id, and the webhook must fire.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { newId, randomId } from '../src/domain/ids.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { sseSubscribe, wsSubscribe, type Collected } from './support/subscription-clients.js';
import { gql as gqlAt, type Variables } from './support/api-client.js';
import { waitFor } from './support/wait.js';

const EVENTS = `subscription ($f: SessionEventFilter) { sessionEvents(filter: $f) { id type cause session { id user { name } } } }`;
const skip = openvpnSkipReason() || (await postgresSkipReason()) || natsServerSkipReason();

interface Ev {
  id: string;
  type: string;
  cause: string | null;
  session: { id: string; user: { name: string } };
}
const eventsOf = (c: Collected) => c.events.map((e) => e.sessionEvents as Ev);
const codesOf = (c: Collected) => JSON.stringify(c.errors);

describe('a replica killed after its commit and before its publish; a partitioned replica', { skip }, () => {
  const gw = `obx-${randomId(6)}`;
  const procs: SwitchboardProcess[] = [];
  let lab: OpenVpnLab;
  let server: LabServer;
  let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
  let sql: pg.Client;
  let natsA: TestNatsServer;
  let natsB: TestNatsServer;
  let replicaA: SwitchboardProcess;
  let replicaB: SwitchboardProcess;
  let urlB = '';
  let admin = '';
  let receiver: Server;
  let receiverUrl = '';
  const posts: { event: string; body: { id: string; type: string; session: { id: string } } }[] = [];
  const subs: Collected[] = [];

  const spawn = (name: string, args: string[], env: Record<string, string>) => {
    const p = SwitchboardProcess.start(name, args, { SWITCHBOARD_LOG_LEVEL: 'info', ...env });
    procs.push(p);
    return p;
  };
  const startReplica = (name: string, nats: TestNatsServer) =>
    spawn(name, ['start'], {
      SWITCHBOARD_NATS_URL: nats.url,
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: db.url,
      SWITCHBOARD_WEBHOOK_POLL_MS: '100',
      SWITCHBOARD_WEBHOOK_BACKOFF_MS: '100',
    });
  const listening = async (p: SwitchboardProcess) =>
    (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
  const gql = (url: string, query: string, variables?: Variables) => gqlAt(url, admin, query, variables);

  before(async () => {
    db = await createFreshPostgresDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    natsA = await startNatsServer();
    natsB = await startNatsServer();
    receiver = createServer((req, res) => {
      let body = '';
      req
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => {
          posts.push({
            event: String(req.headers['switchboard-event']),
            body: JSON.parse(body) as (typeof posts)[number]['body'],
          });
          res.writeHead(204).end();
        });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: `pw-${gw}` });
    writeFileSync(
      join(lab.dir, `${gw}.yaml`),
      JSON.stringify({
        gateways: [
          {
            id: gw,
            name: `Lab ${gw}`,
            region: 'lab',
            protocol: 'openvpn',
            mode: 'observe',
            management: server.management,
            managementPasswordFile: server.managementPasswordFile,
            // No periodic snapshot during the test: only kim's end may touch kim's row while the test holds it.
            snapshotIntervalSeconds: 3600,
          },
        ],
      }),
    );
    replicaA = startReplica('replica A', natsA);
    admin = (await replicaA.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    await listening(replicaA);
    replicaB = startReplica('replica B', natsB);
    urlB = await listening(replicaB);
    await spawn(`agent ${gw}`, ['agent'], {
      SWITCHBOARD_NATS_URL: natsA.url,
      SWITCHBOARD_CONFIG: join(lab.dir, `${gw}.yaml`),
    }).waitForOutput(/Switchboard agent agt_\w+ is reporting/);
  });
  after(async () => {
    for (const s of subs) await s.close().catch(() => {});
    for (const p of procs) await p.stop();
    await lab?.close();
    await natsA?.stop();
    await natsB?.stop();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    await sql?.end();
    await db?.drop();
  });

  test('the end committed by a replica that then lost its bus and was killed reaches the other replica’s subscribers once, with its id, and its webhook fires', async (t) => {
    const hook = await gql(
      urlB,
      'mutation ($in: CreateWebhookInput!) { createWebhook(input: $in) { webhook { id } } }',
      { in: { url: receiverUrl, events: ['SESSION_DISCONNECTED'] } },
    );
    assert.equal(hook.status, 200, JSON.stringify(hook.json));
    const ws = await wsSubscribe(
      urlB,
      EVENTS,
      { f: { gatewayId: gw, types: ['SESSION_DISCONNECTED'] } },
      { token: admin },
    );
    const sse = await sseSubscribe(urlB, EVENTS, { f: { gatewayId: gw, types: ['SESSION_DISCONNECTED'] } }, admin);
    subs.push(ws, sse);

    const client = await server.startClient({ user: 'kim' });
    const session = await waitFor(
      async () =>
        (await sql.query<{ id: string }>('select id from sessions where gateway_id = $1 and ended_at is null', [gw]))
          .rows[0],
      20_000,
      'kim online',
    );

    // Hold kim's row: replica A's end of it will wait inside its transaction.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    t.after(() => holder.end());
    await holder.query('begin');
    await holder.query('select id from sessions where id = $1 for update', [session.id]);
    await client.stop();
    await waitFor(
      async () =>
        (
          await sql.query(
            `select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database() and pid <> pg_backend_pid()`,
          )
        ).rowCount,
      30_000,
      'replica A waiting on the row lock',
    ).catch(async (e) => {
      console.error(
        (
          await sql.query(
            `select wait_event_type, state, left(query, 200) as q from pg_stat_activity where datname = current_database()`,
          )
        ).rows,
        replicaA.tail(40),
      );
      throw e;
    });

    // Cut A's bus, then let its transaction commit: the event is in the outbox, A can publish nothing.
    await natsA.stop();
    await replicaA.waitForOutput(/nats bus disconnected/);
    await holder.query('rollback');
    const row = await waitFor(
      async () =>
        (
          await sql.query<{ id: string; payload: string }>(
            `select id, payload from event_outbox where type = 'session.disconnected' and payload like $1`,
            [`%${session.id}%`],
          )
        ).rows[0],
      20_000,
      'the event in the outbox',
    ).catch(async (e) => {
      console.error(
        (await sql.query(`select id, type, published_at, left(payload, 120) as p from event_outbox`)).rows,
        (await sql.query('select id, ended_at, end_cause from sessions')).rows,
        replicaA.tail(30),
      );
      throw e;
    });
    replicaA.kill('SIGKILL');
    await replicaA.waitExited();

    for (const sub of [ws, sse]) {
      const [ended] = await sub.waitFor(1, 20_000);
      assert.deepEqual(ended!.sessionEvents, {
        id: row.id,
        type: 'SESSION_DISCONNECTED',
        cause: 'CLIENT_DISCONNECT',
        session: { id: session.id, user: { name: 'kim' } },
      });
    }
    const post = await waitFor(() => posts.find((p) => p.body.id === row.id), 20_000, 'the webhook POST');
    assert.deepEqual(
      { event: post.event, type: post.body.type, session: post.body.session.id },
      { event: 'session.disconnected', type: 'session.disconnected', session: session.id },
    );

    // Published again, as a second relay would after a lease ran out: each stream still shows it once.
    // A later event (written after it, so published after it) marks when the copy would have arrived.
    await sql.query('update event_outbox set published_at = null, claimed_until = null where id = $1', [row.id]);
    const marker = JSON.parse(row.payload) as { id: string; session: { id: string; userName: string } };
    marker.id = newId('event');
    marker.session.userName = 'marker';
    await sql.query(
      `insert into event_outbox (id, type, at, payload, created_at) values ($1, 'session.disconnected', $2, $3, $2)`,
      [marker.id, Date.now(), JSON.stringify(marker)],
    );
    for (const sub of [ws, sse]) {
      await sub.waitFor(2, 20_000);
      assert.deepEqual(
        eventsOf(sub).map((e) => [e.id, e.session.user.name]),
        [
          [row.id, 'kim'],
          [marker.id, 'marker'],
        ],
        'the copy was dropped',
      );
    }
    assert.equal(posts.filter((p) => p.body.id === row.id).length, 1, 'the webhook fired once');
  });

  test('a replica cut off from its NATS ends its WebSocket and SSE subscriptions with BUS_UNAVAILABLE and refuses new ones', async () => {
    const ws = await wsSubscribe(urlB, EVENTS, {}, { token: admin });
    const sse = await sseSubscribe(urlB, EVENTS, {}, admin);
    subs.push(ws, sse);
    await natsB.stop();
    for (const sub of [ws, sse]) {
      await waitFor(() => sub.errors.length > 0 && sub.completed, 20_000, 'the stream ended with an error');
      assert.match(codesOf(sub), /"code":"BUS_UNAVAILABLE"/);
      assert.match(codesOf(sub), /message bus/);
    }
    const refused = await sseSubscribe(urlB, EVENTS, {}, admin);
    subs.push(refused);
    await waitFor(() => refused.errors.length > 0, 10_000, 'a new subscription refused');
    assert.match(codesOf(refused), /"code":"BUS_UNAVAILABLE"/);
    // The replica itself keeps serving what does not need the bus.
    assert.equal((await gql(urlB, '{ viewer { name } }')).status, 200);
  });
});
