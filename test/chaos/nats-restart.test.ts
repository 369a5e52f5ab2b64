/**
 * NATS restarted under the many-hosts shape: a private `nats-server`, two control-plane replicas
 * (processes) on one PostgreSQL database, one `switchboard agent` next to a REAL OpenVPN server.
 * Expected: while NATS is down, every disconnect answers GATEWAY_UNAVAILABLE within its deadline (none
 * hangs), the session stays up, and the refused request is not sent later when NATS is back (the
 * NATS client would buffer it while disconnected; the bus now refuses requests at once then); queries
 * keep working (they need only the database); once NATS is
 * back on the same address, the agent and both replicas recover by themselves: the gateway shows
 * connected again, a disconnect succeeds, and a client that connects afterwards is seen by both.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { apiClient, gql as gqlAt, onlineIds, waitLinked, type Variables } from '../support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from '../support/openvpn-lab.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../support/postgres.js';
import { SwitchboardProcess } from '../support/switchboard-process.js';
import { waitFor } from '../support/wait.js';
import { assertNoSecrets } from '../support/secret-scan.js';

const skip = openvpnSkipReason() || natsServerSkipReason() || (await postgresSkipReason());
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const GW = `nats-chaos-${randomBytes(3).toString('hex')}`;
const DEADLINE_MS = 2000;

let nats: TestNatsServer;
let lab: OpenVpnLab;
let server: LabServer;
let db: Awaited<ReturnType<typeof createFreshPostgresDatabase>>;
const procs: SwitchboardProcess[] = [];
const clients = new Map<string, LabClient>();

/** No request may outlast a NATS outage unanswered. */
const gql = (url: string, token: string, query: string, variables?: Variables) =>
  gqlAt(url, token, query, variables, { timeoutMs: 15_000 });
const users = (url: string, token: string) => onlineIds(apiClient(url, token, { timeoutMs: 15_000 }), GW);

/** Whether the replica has heard from the gateway's agent since `since` (ms). */
async function agentHeardSince(url: string, token: string, since: number): Promise<boolean> {
  const r = await gql(url, token, '{ gateways { id agentConnected lastSeenAt } }');
  const g = (
    r.json.data?.gateways as { id: string; agentConnected: boolean; lastSeenAt: string | null }[] | undefined
  )?.find((x) => x.id === GW);
  return g !== undefined && g.agentConnected && g.lastSeenAt !== null && Date.parse(g.lastSeenAt) > since;
}

before(async () => {
  if (skip) return;
  nats = await startNatsServer();
  db = await createFreshPostgresDatabase();
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'authorize', managementPassword: 'nats-chaos-pw' });
  writeFileSync(
    join(lab.dir, 'agent.yaml'),
    JSON.stringify({
      gateways: [
        {
          id: GW,
          name: 'NATS chaos lab',
          region: 'lab',
          protocol: 'openvpn',
          mode: 'authorize',
          management: server.management,
          managementPasswordFile: server.managementPasswordFile,
          snapshotIntervalSeconds: 1,
        },
      ],
    }),
  );
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await lab?.close();
  await db?.drop();
  await nats?.stop();
});

test(
  'NATS down: disconnects answer GATEWAY_UNAVAILABLE, none hangs; NATS back: agent and replicas recover by themselves',
  { skip, timeout: 120_000 },
  async () => {
    const common = {
      SWITCHBOARD_NATS_URL: nats.url,
      SWITCHBOARD_LOG_LEVEL: 'info',
      SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0',
      SWITCHBOARD_RATE_LIMIT_PER_IP: '0',
    };
    const replica = (name: string) => {
      const p = SwitchboardProcess.start(name, ['start'], {
        ...common,
        SWITCHBOARD_PORT: '0',
        SWITCHBOARD_DATABASE_URL: db.url,
        SWITCHBOARD_GATEWAY_LIVENESS_MS: '3000',
        SWITCHBOARD_DISCONNECT_TIMEOUT_MS: String(DEADLINE_MS),
      });
      procs.push(p);
      return p;
    };
    const a = replica('replica A');
    const admin = (await a.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    const urlA = (await a.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const b = replica('replica B');
    const urlB = (await b.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    const agent = SwitchboardProcess.start('agent', ['agent'], {
      ...common,
      SWITCHBOARD_CONFIG: join(lab.dir, 'agent.yaml'),
      SWITCHBOARD_HEARTBEAT_MS: '500',
    });
    procs.push(agent);
    await agent.waitForOutput(/Switchboard agent agt_\w+ is reporting/);
    // Authorize mode: clients get in only once the agent answers for the daemon, so they start once it
    // holds the management link (reporting is not linked: a CONNECT sent before would go unanswered).
    await waitLinked(apiClient(urlA, admin), GW);
    for (const user of ['ann', 'ben', 'cat']) clients.set(user, await server.startClient({ user }));
    for (const url of [urlA, urlB])
      await waitFor(async () => (await users(url, admin)).size === 3, 20_000, `three sessions on ${url}`);
    const ids = await users(urlA, admin);

    await nats.stop();
    const during = await Promise.all([
      gql(urlA, admin, SEED, { onlineSessionId: ids.get('ann') }),
      gql(urlB, admin, SEED, { onlineSessionId: ids.get('ann') }),
      gql(urlB, admin, SEED, { onlineSessionId: ids.get('ben') }),
    ]);
    for (const r of during) {
      assert.equal(r.status, 503, JSON.stringify(r.json));
      assert.equal(r.json.errors?.[0]?.extensions?.code, 'GATEWAY_UNAVAILABLE');
      assert.ok(
        ['NOT_SENT', 'UNCONFIRMED'].includes(String(r.json.errors?.[0]?.extensions?.disconnect)),
        JSON.stringify(r.json),
      );
    }
    const q = await gql(urlB, admin, '{ onlineSessions { totalCount } }');
    assert.equal(q.status, 200, 'queries need only the database');
    assert.equal(clients.get('ann')!.exited, false, 'ann is still connected');
    assert.equal(clients.get('ben')!.exited, false, 'ben is still connected');

    nats = await startNatsServer([], nats.port);
    const back = Date.now();
    // Each process reconnects by itself (after its own reconnect wait, with jitter): wait for all three
    // to say so, then for the agent's reports to flow again. (Gateway status is in the shared database,
    // so one replica hearing the agent says nothing about the other's connection.)
    for (const p of procs) await p.waitForOutput(/nats bus reconnected/, 30_000);
    await waitFor(() => agentHeardSince(urlA, admin, back + 500), 30_000, 'agent heard again');
    const ok = await gql(urlB, admin, SEED, { onlineSessionId: ids.get('ann') });
    assert.equal(ok.status, 200, `${JSON.stringify(ok.json)}\n${procs.map((p) => p.tail(15)).join('\n')}`);
    assert.equal(ok.json.data?.disconnectBySessionId, true);
    await waitFor(() => clients.get('ann')!.exited, 15_000, 'ann halted');
    clients.set('dan', await server.startClient({ user: 'dan' }));
    for (const url of [urlA, urlB]) {
      await waitFor(
        async () =>
          JSON.stringify([...(await users(url, admin)).keys()].sort()) === JSON.stringify(['ben', 'cat', 'dan']),
        20_000,
        `${url} lists ben, cat, dan`,
      );
    }
    // What was refused during the outage was never sent: it did not happen later either.
    assert.ok(!/Halt command/.test(readFileSync(clients.get('ben')!.logPath, 'utf8')), 'ben was never halted');
    assert.equal(
      (readFileSync(clients.get('ann')!.logPath, 'utf8').match(/Halt command was pushed/g) ?? []).length,
      1,
      'ann was halted once, after the outage',
    );
    const audit = await gql(
      urlA,
      admin,
      'query ($id: String) { auditEvents(first: 20, filter: { targetSessionId: $id }) { edges { node { outcome } } } }',
      { id: ids.get('ann') },
    );
    const outcomes = (audit.json.data?.auditEvents as { edges: { node: { outcome: string } }[] }).edges
      .map((e) => e.node.outcome)
      .sort();
    // Each of the three attempts is recorded (PENDING) before its gateway is asked; one succeeded. An
    // attempt during the outage that was certainly not sent (the replica knew NATS was down) is settled
    // as not sent; one that may have been sent stays pending and is settled by the later success.
    const notSent = during.slice(0, 2).filter((r) => r.json.errors?.[0]?.extensions?.disconnect === 'NOT_SENT').length;
    const expected = [
      'PENDING',
      'PENDING',
      'PENDING',
      'SUCCESS',
      ...Array.from({ length: notSent }, () => 'GATEWAY_UNAVAILABLE'),
    ].sort();
    assert.deepEqual(outcomes, expected, 'three attempts, each audited before its gateway was asked, one success');
    for (const p of procs) assert.ok(p.running, `${p.name} kept running through the outage`);
    for (const p of procs)
      assertNoSecrets(p.output(), [admin, 'nats-chaos-pw', 'pw-ann', 'pw-ben', 'pw-cat', 'pw-dan'], p.name);
  },
);
