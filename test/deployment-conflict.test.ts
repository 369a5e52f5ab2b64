/**
 * Two deployments on ONE NATS subject prefix (a copied configuration, a staging stack pointed at
 * production's NATS): nothing on the bus tells them apart, so each replica announces its deployment's
 * id (made once in its store) and a replica that hears another id refuses disconnects. Here, on a
 * nats-server of this file's own and on each store: deployment A (two replicas on one database, an
 * agent with a session), then deployment B (its own database, its own agent and session) on the same
 * prefix. Two replicas of one deployment never count as a conflict; once B runs, both sides say so on
 * `/readyz` and in one error line naming the prefix and both ids, and a disconnect (single and bulk)
 * is refused with DEPLOYMENT_CONFLICT: no agent is asked, nothing ends, the refusal is audited. Once B
 * stops, A is ready again and its disconnect ends the session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { subjects } from '../src/bus/bus.js';
import { connectNatsBus } from '../src/bus/nats/nats-bus.js';
import { randomId } from '../src/domain/ids.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { onlineIdOf } from './support/api-client.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { natsServerSkipReason, startNatsServer, type TestNatsServer } from './support/nats-server.js';
import { bothStores, type TestDatabase } from './support/postgres.js';
import { waitFor } from './support/wait.js';

/** Short, so that a conflict is seen (and over) within seconds; the test waits on state, not on time. */
const ANNOUNCE_MS = 200;
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const BULK = 'mutation ($in: DisconnectSessionsInput!) { disconnectSessions(input: $in) { matched ended failed } }';

interface Readiness {
  status: number;
  body: { status: string; failed: string[]; checks: Record<string, string> };
}

async function readyz(app: AppHarness): Promise<Readiness> {
  const res = await fetch(`${app.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
}

const stores = await bothStores();

describe(
  'two deployments on one NATS prefix: detected, and disconnects refused',
  { skip: natsServerSkipReason() },
  () => {
    let nats: TestNatsServer;
    before(async () => {
      nats = await startNatsServer();
    });
    after(async () => {
      await nats?.stop();
    });

    for (const store of stores) {
      test(`on ${store.name}`, { skip: store.skip, timeout: 120_000 }, async () => {
        const run = randomId(6);
        const prefix = `conflict_${run}`;
        const env = {
          SWITCHBOARD_NATS_URL: nats.url,
          SWITCHBOARD_NATS_PREFIX: prefix,
          SWITCHBOARD_DEPLOYMENT_ANNOUNCE_MS: String(ANNOUNCE_MS),
        };
        const databases: TestDatabase[] = [];
        const apps: AppHarness[] = [];
        const watcher = await connectNatsBus({ url: nats.url, prefix });
        // Every announcement on the prefix, as deployment id → replica ids → how many times heard.
        const heard = new Map<string, Map<string, number>>();
        watcher.subscribe(subjects.deploymentAnnounce, (data) => {
          const { deploymentId, replicaId } = data as { deploymentId: string; replicaId: string };
          const replicas = heard.get(deploymentId) ?? new Map<string, number>();
          replicas.set(replicaId, (replicas.get(replicaId) ?? 0) + 1);
          heard.set(deploymentId, replicas);
        });
        try {
          const dbA = await store.open();
          databases.push(dbA);
          const dbB = await store.open();
          databases.push(dbB);
          const adapterA = new FakeAdapter({ id: `gwa-${run}` });
          const adapterB = new FakeAdapter({ id: `gwb-${run}` });
          adapterA.connect('alice');
          adapterB.connect('bob');

          const a1 = await startApp({ adapters: [adapterA], databaseUrl: dbA.url, env });
          apps.push(a1);
          // A second replica of A on its database. PostgreSQL only: two SQLite stores on one file in one
          // process wait for each other's locks with the event loop held (SQLite's replicas are one host's).
          const twoReplicas = store.name === 'PostgreSQL';
          const a2 = twoReplicas ? await startApp({ databaseUrl: dbA.url, env, linked: false }) : null;
          if (a2) apps.push(a2);
          const idA = await a1.app.store.deploymentId();
          assert.match(idA, /^dep_[a-z0-9]{16}$/);
          if (a2)
            assert.equal(await a2.app.store.deploymentId(), idA, 'replicas of one database share its deployment id');
          const replicasOfA = a2 ? [a1, a2] : [a1];
          const alice = await onlineIdOf(a1.gql, adapterA.config.id, 'alice');

          // The replicas of one deployment have each announced it several times (and heard each other), and neither minds.
          await waitFor(
            () => {
              const replicas = heard.get(idA);
              return (
                replicas !== undefined &&
                replicas.size === replicasOfA.length &&
                [...replicas.values()].every((n) => n >= 4)
              );
            },
            30_000,
            "both of A's replicas announcing",
          );
          for (const app of replicasOfA) {
            const r = await readyz(app);
            assert.equal(r.status, 200, JSON.stringify(r.body));
            assert.equal(r.body.checks.deployment, 'ok');
          }

          // Deployment B on the same prefix.
          const b = await startApp({ adapters: [adapterB], databaseUrl: dbB.url, env });
          apps.push(b);
          const idB = await b.app.store.deploymentId();
          assert.notEqual(idB, idA, 'each store makes its own deployment id');
          const bob = await onlineIdOf(b.gql, adapterB.config.id, 'bob').catch(() => null);

          // Every replica of both sides sees the other deployment: not ready, and why.
          for (const [app, other] of [...replicasOfA.map((a) => [a, idB] as const), [b, idA] as const]) {
            const r = await waitFor(
              async () => {
                const r = await readyz(app);
                return r.status === 503 && r.body.failed.includes('deployment') ? r : undefined;
              },
              30_000,
              `a replica on ${prefix} to see deployment ${other}`,
            );
            assert.match(r.body.checks.deployment!, new RegExp(`another deployment \\(${other}\\)`));
            assert.equal(r.body.checks.bus, 'ok');
          }
          // One error line that names the prefix and both ids.
          const line = a1.logs.find((l) => l.includes('"level":50') && l.includes(idB));
          assert.ok(line, 'an error line about the other deployment');
          assert.ok(line.includes(prefix) && line.includes(idA), line);

          // A disconnect is refused: no agent is asked, nothing ends, the refusal is audited.
          const single = await a1.gql(DISCONNECT, { id: alice });
          assert.equal(single.status, 503, single.text);
          assert.equal(single.json.errors?.[0]?.extensions?.code, 'DEPLOYMENT_CONFLICT', single.text);
          assert.match(single.json.errors![0]!.message, /its own SWITCHBOARD_NATS_PREFIX; nothing was done/);
          const bulk = await a1.gql(BULK, { in: { all: true, reason: 'conflict' } });
          assert.equal(bulk.json.errors?.[0]?.extensions?.code, 'DEPLOYMENT_CONFLICT', bulk.text);
          if (bob !== null) {
            const other = await b.gql(DISCONNECT, { id: bob });
            assert.equal(other.json.errors?.[0]?.extensions?.code, 'DEPLOYMENT_CONFLICT', other.text);
          }
          assert.deepEqual(adapterA.commands, [], "A's agent was asked nothing");
          assert.deepEqual(adapterB.commands, [], "B's agent was asked nothing");
          assert.ok(await a1.app.store.sessions.findOnline(alice), "alice's session is still online in A's record");
          assert.equal(await a1.app.store.intents.findPending(alice), null, 'no intent was recorded');
          const refused = await a1.gql('{ auditEvents(first: 10) { edges { node { action outcome errorCode } } } }');
          const rows = (
            refused.json.data?.auditEvents as {
              edges: { node: { action: string; outcome: string; errorCode: string } }[];
            }
          ).edges.map((e) => e.node);
          for (const action of ['session.disconnect', 'session.bulk_disconnect'])
            assert.ok(
              rows.some((r) => r.action === action && r.outcome === 'REFUSED' && r.errorCode === 'DEPLOYMENT_CONFLICT'),
              `${action} refused and audited: ${JSON.stringify(rows)}`,
            );

          // B stops: once it has not been heard for a few periods, A is ready and disconnects again.
          apps.splice(apps.indexOf(b), 1);
          await b.close();
          for (const app of replicasOfA)
            await waitFor(async () => (await readyz(app)).status === 200, 30_000, `A ready again after B stopped`);
          const ended = await a1.gql(DISCONNECT, { id: alice });
          assert.equal(ended.json.data?.disconnectBySessionId, true, ended.text);
          assert.equal(adapterA.commands.length, 1);
          await waitFor(
            () => a1.logs.some((l) => l.includes('no other deployment heard on this NATS prefix any more')),
            30_000,
            'a line saying the conflict is over',
          );
        } finally {
          for (const app of apps.reverse()) await app.close().catch(() => {});
          await watcher.close();
          for (const db of databases) await db.drop();
        }
      });
    }
  },
);
