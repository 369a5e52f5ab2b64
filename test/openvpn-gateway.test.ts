/**
 * Issue "OpenVPN gateways", end to end: the whole Switchboard (store, bus, sync, in-process agent,
 * HTTP API) attached to a REAL OpenVPN server with REAL OpenVPN clients, in both modes, over UDP and
 * TCP. Nothing here is a test double.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import {
  OpenVpnLab,
  openvpnSkipReason,
  type LabClient,
  type LabMode,
  type LabProto,
  type LabServer,
} from './support/openvpn-lab.js';
import { onlineRows, agentConnected } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { withoutLocations } from './support/graphql-body.js';

const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const SESSIONS = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { totalCount edges { node {
  id user { id name } gateway { id name region protocol } protocol transport clientAddress virtualAddress connectedAt lastSeenAt
} } } }`;
const skip = openvpnSkipReason();

interface Row {
  id: string;
  user: { name: string };
  gateway: { id: string; region: string };
  clientAddress: string;
  virtualAddress: string;
  transport: string | null;
  connectedAt: string;
}

for (const mode of ['authorize', 'observe'] as LabMode[]) {
  for (const proto of ['udp4', 'tcp4'] as LabProto[]) {
    describe(`OpenVPN ${mode} mode over ${proto}`, { skip }, () => {
      let lab: OpenVpnLab;
      let server: LabServer;
      let h: AppHarness;
      const gw = `ovpn-${mode}-${proto}`;
      const clients = new Map<string, LabClient>();

      const rows = async (): Promise<Row[]> => {
        const r = await h.gql(SESSIONS, { gw });
        assert.equal(r.status, 200, r.text);
        return onlineRows<Row>(r.json);
      };
      const rowOf = async (user: string) =>
        waitFor(async () => (await rows()).find((r) => r.user.name === user), 15_000, `${user} online`);

      before(async () => {
        lab = await OpenVpnLab.create();
        server = await lab.startServer({ proto, mode, managementPassword: 'mgmt-secret-pw' });
        const adapter = createAdapter(
          server.gatewayConfig({ id: gw, name: `Lab ${mode} ${proto}`, region: 'lab-1', snapshotIntervalMs: 2000 }),
          silentLogger,
        );
        h = await startApp({
          adapters: [adapter],
          env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '2000', SWITCHBOARD_GATEWAY_LIVENESS_MS: '3000' },
        });
        for (const user of ['alice', 'bob', 'carol']) clients.set(user, await server.startClient({ user }));
      });
      after(async () => {
        await h?.close();
        await lab?.close();
      });

      test('connected clients appear in onlineSessions with user, addresses and gateway', async () => {
        await waitFor(async () => (await rows()).length === 3, 15_000, 'three sessions');
        for (const user of ['alice', 'bob', 'carol']) {
          const r = await rowOf(user);
          assert.match(r.id, /^sess_[a-z0-9]{12}$/);
          assert.match(r.clientAddress, /^127\.0\.0\.1:\d+$/);
          assert.match(r.virtualAddress, /^198\.\d+\.\d+\.\d+$/);
          assert.equal(r.transport, proto.startsWith('udp') ? 'UDP' : 'TCP');
          assert.deepEqual(r.gateway, { id: gw, name: `Lab ${mode} ${proto}`, region: 'lab-1', protocol: 'openvpn' });
        }
        const gws = await h.gql('{ gateways { id agentConnected sessionsOnline } }');
        assert.deepEqual(
          (gws.json.data!.gateways as unknown[]).find((g) => (g as { id: string }).id === gw),
          { id: gw, agentConnected: true, sessionsOnline: 3 },
        );
      });

      test('disconnectBySessionId ends exactly that client; the others keep their sessions', async () => {
        const victim = await rowOf('alice');
        const before = (await rows()).filter((r) => r.user.name !== 'alice');
        const reply = await h.gql(SEED, { onlineSessionId: victim.id });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.json, { data: { disconnectBySessionId: true } });
        const alice = clients.get('alice')!;
        await alice.waitForLog(/server-pushed-halt|Halt command was pushed by server/, { timeoutMs: 5000 });
        await alice.waitExited(10_000);
        await waitFor(
          async () => !(await rows()).some((r) => r.id === victim.id),
          5000,
          'victim gone from onlineSessions',
        );
        const after = (await rows()).filter((r) => r.user.name !== 'alice');
        assert.deepEqual(
          after.map((r) => [r.id, r.connectedAt]).sort(),
          before.map((r) => [r.id, r.connectedAt]).sort(),
          'same sessions (same Client IDs), same connection times',
        );
        for (const other of ['bob', 'carol']) {
          const c = clients.get(other)!;
          assert.equal(c.exited, false, `${other} still running`);
          assert.doesNotMatch(c.log(), /SIGUSR1|SIGTERM|Connection reset/, `${other} was not disturbed`);
        }
        const history = await h.app.store.sessions.findById(victim.id);
        assert.equal(history!.endCause, 'ADMIN_DISCONNECT');
        assert.equal(history!.endedByName, 'bootstrap-admin');
        assert.ok(history!.endedByTokenId?.startsWith('tok_'));
      });

      test('the same id again: 400 SESSION_NOT_FOUND, audited', async () => {
        const [done] = (
          await h.app.store.audit.list({
            first: 1,
            filter: { action: 'session.disconnect', outcome: 'SUCCESS', targetGatewayId: gw, targetUserName: 'alice' },
          })
        ).rows;
        const ended = { id: done!.targetSessionId! };
        const reply = await h.gql(SEED, { onlineSessionId: ended.id });
        assert.equal(reply.status, 400);
        assert.equal(reply.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND');
        const audit = await h.app.store.audit.list({ first: 10, filter: { targetSessionId: ended.id } });
        // The disconnect's intent (PENDING) and its SUCCESS, then this refused attempt.
        assert.deepEqual(audit.rows.map((a) => a.outcome).sort(), ['NOT_FOUND', 'PENDING', 'SUCCESS']);
      });

      test('seed 403: a sessions:read token cannot end a real session; the client is untouched', async () => {
        const target = await rowOf('carol');
        const reader = await h.token(['sessions:read']);
        const r = await h.gql(SEED, { onlineSessionId: target.id }, reader);
        assert.equal(r.status, 403);
        assert.deepEqual(JSON.parse(withoutLocations(r.json)), {
          errors: [
            {
              message: 'Admin access required to disconnect sessions',
              path: ['disconnectBySessionId'],
              extensions: { code: 'FORBIDDEN' },
            },
          ],
          data: null,
        });
        assert.equal(clients.get('carol')!.exited, false);
        assert.ok((await rows()).some((x) => x.id === target.id));
      });

      test('RESTART mode: the client comes back as a new session with a new id', async () => {
        const old = await rowOf('bob');
        const bob = clients.get('bob')!;
        const mark = bob.logLength();
        const r = await h.gql(
          'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: RESTART, reason: "rotate" }) { outcome } }',
          { id: old.id },
        );
        assert.equal(r.status, 200, r.text);
        await bob.waitConnected({ from: mark, timeoutMs: 20_000 });
        const fresh = await waitFor(
          async () => (await rows()).find((x) => x.user.name === 'bob' && x.id !== old.id),
          15_000,
          'bob back',
        );
        assert.notEqual(fresh.id, old.id);
        assert.equal((await h.app.store.sessions.findById(old.id))!.endCause, 'ADMIN_DISCONNECT');
      });

      test('a client that quits by itself ends its session with CLIENT_DISCONNECT', async () => {
        const dave = await server.startClient({ user: 'dave' });
        const row = await rowOf('dave');
        await dave.stop();
        await waitFor(async () => (await h.app.store.sessions.findById(row.id))?.endedAt, 20_000, 'dave ended');
        assert.equal((await h.app.store.sessions.findById(row.id))!.endCause, 'CLIENT_DISCONNECT');
      });

      test('daemon killed: gateway not connected, disconnect is GATEWAY_UNAVAILABLE; restarted: reconciled, stale sessions GATEWAY_RESTART', async () => {
        const carol = await rowOf('carol');
        // A crash, not a clean stop: a clean stop tells the agent every client left (>CLIENT:DISCONNECT)
        // before the socket closes, which is correct but leaves nothing online to test with.
        server.signal('SIGKILL');
        await server.stop();
        await waitFor(
          async () => (await agentConnected(h.gql, gw)) === false,
          10_000,
          'gateway shown as not connected',
        );
        const started = Date.now();
        const r = await h.gql(SEED, { onlineSessionId: carol.id });
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json.errors?.[0]?.extensions?.code, 'GATEWAY_UNAVAILABLE');
        assert.ok(Date.now() - started < 5000, 'answered within the deadline (plus slack)');
        assert.ok(await h.app.store.sessions.findOnline(carol.id), 'session untouched');
        await server.start();
        await waitFor(
          async () => (await h.app.store.sessions.findById(carol.id))?.endCause === 'GATEWAY_RESTART',
          20_000,
          'stale session ended with GATEWAY_RESTART',
        );
      });

      if (mode === 'authorize') {
        test("blockSeconds denies the user's reconnects until it expires, then admits them", async () => {
          const erin = await server.startClient({ user: 'erin' });
          const row = await rowOf('erin');
          const blockedAt = Date.now();
          const r = await h.gql(
            'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: RESTART, blockSeconds: 4 }) { outcome } }',
            { id: row.id },
          );
          assert.equal(r.status, 200, r.text);
          const mark = erin.logLength();
          await erin.waitForLog(/AUTH_FAILED/, { from: mark, timeoutMs: 15_000 });
          assert.ok(!(await rows()).some((x) => x.user.name === 'erin'), 'not admitted while blocked');
          await erin.waitExited(15_000).catch(() => undefined);
          await new Promise((r) => setTimeout(r, Math.max(0, blockedAt + 4500 - Date.now())));
          const again = await server.startClient({ user: 'erin', waitConnected: false });
          await again.waitConnected({ timeoutMs: 30_000 });
          await rowOf('erin');
        });
      }

      test('the management password never reaches a log line or the database', async () => {
        const logs = h.logs.join('\n');
        assert.ok(!logs.includes('mgmt-secret-pw'));
        assert.ok(!/password=/.test(logs));
        assert.ok(!logs.includes('pw-alice'), 'client passwords from >CLIENT:ENV never logged');
      });
    });
  }
}

/**
 * Sessions that were up before the agent attached: `status 3` and `state` say nothing of UDP or TCP
 * (docs/openvpn-gateways.md, "Transport"), so they are stored without one, truthfully; the first
 * client ENV block of the same daemon instance (a new client, or a renegotiation's REAUTH) says the
 * daemon's proto, which every client of an OpenVPN 2.6 server shares, and the store fills it in.
 */
describe(
  'OpenVPN sessions already up when the agent attached (observe mode: clients connect without it)',
  { skip },
  () => {
    for (const proto of ['udp4', 'tcp4'] as LabProto[]) {
      test(`${proto}: no transport until a client of the daemon says it, then the right one, same session`, async () => {
        const lab = await OpenVpnLab.create();
        let h: AppHarness | undefined;
        try {
          const server = await lab.startServer({ proto, mode: 'observe' });
          await server.startClient({ user: 'early' });
          const gw = `ovpn-early-${proto}`;
          h = await startApp({
            adapters: [
              createAdapter(
                server.gatewayConfig({ id: gw, name: 'Early', region: 'lab-1', snapshotIntervalMs: 2000 }),
                silentLogger,
              ),
            ],
          });
          const app = h;
          const rowOf = async (user: string) => {
            const r = await app.gql(SESSIONS, { gw });
            assert.equal(r.status, 200, r.text);
            return onlineRows<Row>(r.json).find((s) => s.user.name === user);
          };
          const early = await waitFor(() => rowOf('early'), 15_000, 'the early session, from status 3');
          assert.equal(early.transport, null, 'nothing the daemon said so far tells UDP from TCP');

          await server.startClient({ user: 'late' });
          const want = proto === 'udp4' ? 'UDP' : 'TCP';
          const late = await waitFor(() => rowOf('late'), 15_000, 'the late session');
          assert.equal(late.transport, want, "from the late client's ENV block");
          const learnt = await waitFor(
            async () => {
              const s = await rowOf('early');
              return s?.transport === want ? s : undefined;
            },
            15_000,
            `the early session's transport ${want}`,
          );
          assert.equal(learnt.id, early.id, 'the same session, filled in');
          assert.equal(learnt.connectedAt, early.connectedAt);
        } finally {
          await h?.close();
          await lab.close();
        }
      });
    }
  },
);
