/**
 * Law 1 on a daemon that stalls (SIGSTOP), for WireGuard, IKEv2 and OpenConnect, each with its REAL
 * daemon and real clients, and the whole Switchboard (store, bus, sync, in-process agent, HTTP API).
 * The OpenVPN cases are test/daemon-stall.test.ts and test/disconnect-stalled-daemon.test.ts.
 *
 * (a) The daemon stalls before the disconnect and the agent has noticed (its liveness probe, or for
 *     WireGuard its poll, got no answer): the disconnect answers 503 NOT_SENT at once, nothing was
 *     written to the daemon, and after SIGCONT the session is still online: nothing ran late.
 * (a') WireGuard and OpenConnect read before their command (the peer's configuration; that the
 *     worker pid is still the same tunnel): the daemon stalls just before the disconnect, unnoticed
 *     yet, and that read gets no answer. Nothing that ends a session was written: 503 NOT_SENT, and
 *     after SIGCONT the session is still online.
 * (a'') IKEv2 sends its requests one at a time on one VICI connection: charon stalls with a `list-sas`
 *     in flight (written, unanswered), and a disconnect comes meanwhile, queued behind it. Its
 *     `terminate` is not written by the deadline, so it is dropped: 503 NOT_SENT, and after SIGCONT
 *     (the listing answered) the session is still online: the terminate never ran.
 * (b) The daemon stalls with the disconnect's command written and unanswered (stopped right before
 *     the native command leaves the adapter: WireGuard's `remove` on the UAPI socket, charon's VICI
 *     `terminate`, ocserv's `disconnect id`): 503 UNCONFIRMED ("may still take effect"), the audit
 *     row PENDING, the session still online; after SIGCONT the daemon runs the command and the end
 *     is recorded as the operator's (ADMIN_DISCONNECT with the actor and reason, the audit settled
 *     late, the session.disconnected event and its webhook row); the other session is untouched.
 *     WireGuard, whose RESTART and block are the peer's removal and its re-add: a removal that runs
 *     late still ends in the peer back on the interface (RESTART: at the next poll; a block: when it
 *     is lifted), never left out for good.
 *     Another operator's retry while the daemon is still stalled answers UNCONFIRMED too (the first kill
 *     may still run), and the one end is recorded once, as the first operator's.
 *     A bulk disconnect whose first kill meets the stall: each session's answer is what the daemon did
 *     (NOT_SENT: still on the daemon and online after SIGCONT; UNCONFIRMED or ENDED: the operator's end).
 * (c) Meanwhile the server answers other queries.
 * Outcomes and orders are asserted, never durations.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createAdapter } from '../src/main.js';
import { subjects } from '../src/bus/bus.js';
import { silentLogger } from '../src/domain/logger.js';
import type { SessionEvent } from '../src/core/session-events.js';
import type { GatewayAdapter } from '../src/gateways/adapter.js';
import { UapiControl } from '../src/gateways/wireguard/uapi.js';
import { ViciConnection } from '../src/gateways/ikev2/vici-client.js';
import type { ViciPacket } from '../src/gateways/ikev2/vici-codec.js';
import { OpenConnectAdapter } from '../src/gateways/openconnect/openconnect-adapter.js';
import { OcctlClient, processRunner } from '../src/gateways/openconnect/occtl-client.js';
import { WireGuardLab, wireguardSkipReason } from './support/wireguard-lab.js';
import { StrongSwanLab, charonSkipReason } from './support/strongswan-lab.js';
import { OcservLab, ocservSkipReason, type OcLabClient } from './support/ocserv-lab.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const SEED = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const DISCONNECT =
  'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "stall incident" }) { outcome } }';
const ONLINE =
  'query ($gw: String) { onlineSessions(first: 10, filter: { gatewayId: $gw }) { edges { node { id } } } }';
/** The clients of the bulk case, connected only for it. */
const BULK_USERS = ['bulk1', 'bulk2', 'bulk3'];
const env = (disconnectTimeoutMs: number) => ({
  SWITCHBOARD_DISCONNECT_TIMEOUT_MS: String(disconnectTimeoutMs),
  SWITCHBOARD_GATEWAY_LIVENESS_MS: '3000',
});

/** One protocol's lab and Switchboard, as the cases below need them. */
interface StallRig {
  h: AppHarness;
  gw: string;
  adapter: GatewayAdapter;
  /** The daemon's PID (SIGSTOP / SIGCONT). */
  pid: () => number;
  /** Arms a stall: the daemon is stopped right before the next disconnect's native command is written. */
  stallBeforeNextKill(): void;
  /** IKEv2: starts a listing and resolves once the daemon is stopped right before its `list-sas` is written. */
  stallDuringListing?(): Promise<void>;
  /** Connects clients of these users (of `BULK_USERS`), once the rest is up. */
  addUsers(users: string[]): Promise<void>;
  /** Whether the daemon (running) still has `user`'s session; asked of the daemon itself. */
  onDaemon(user: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Every thread of `pid` in state T (stopped): a group stop reaches each thread on its own. */
function allStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
  });
}

async function stall(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await waitFor(() => allStopped(pid), 10_000, `pid ${pid} stopped`, 5);
}

/** The hook the rigs call right before a native kill leaves the adapter (null: none armed). */
let beforeKill: (() => Promise<void>) | null = null;
const takeHook = () => {
  const hook = beforeKill;
  beforeKill = null;
  return hook;
};
/** The hook the IKEv2 rig calls right before a `list-sas` is written (null: none armed). */
let beforeListing: (() => Promise<void>) | null = null;

// WireGuard's removal and charon's terminate are written by the adapter's own transport; the test
// stops the daemon right before either is written (the transports are per-process, so the wrap is
// this test file's alone).
const removePeer = UapiControl.prototype.removePeer;
UapiControl.prototype.removePeer = async function (this: UapiControl, publicKey: string, timeoutMs: number) {
  await takeHook()?.();
  return removePeer.call(this, publicKey, timeoutMs);
};
type Send = (packet: ViciPacket, ...rest: unknown[]) => Promise<ViciPacket>;
const vici = ViciConnection.prototype as unknown as { send: Send };
const viciSend = vici.send;
vici.send = async function (this: unknown, packet: ViciPacket, ...rest: unknown[]) {
  if (packet.type === 'CMD_REQUEST' && packet.name === 'terminate') await takeHook()?.();
  if (packet.type === 'CMD_REQUEST' && packet.name === 'list-sas' && beforeListing) {
    const hook = beforeListing;
    beforeListing = null;
    await hook();
  }
  return viciSend.call(this, packet, ...rest);
};

async function wireguardRig(): Promise<StallRig> {
  const lab = await WireGuardLab.create();
  try {
    for (const user of ['victim', 'bystander', ...BULK_USERS]) await lab.reserve(user);
    const gw = `stall-wg-${lab.tag}`;
    const adapter = createAdapter(lab.gatewayConfig({ id: gw, snapshotIntervalMs: 1000 }), silentLogger);
    // Longer than the adapter's own reads may take (3 s): a disconnect queued behind a poll that the
    // stall holds still gets the adapter's answer, not core's "no answer by the deadline".
    const h = await startApp({ adapters: [adapter], env: env(5000) });
    const peers = await Promise.all(['victim', 'bystander'].map((user) => lab.addClient(user)));
    const pid = () => lab.serverPid!;
    return {
      h,
      gw,
      adapter,
      pid,
      addUsers: async (users) => void peers.push(...(await Promise.all(users.map((user) => lab.addClient(user))))),
      stallBeforeNextKill: () => (beforeKill = () => stall(pid())),
      onDaemon: async (user) =>
        (await lab.serverPeers()).some((p) => p.publicKey === peers.find((q) => q.user === user)!.publicKey),
      close: async () => {
        await h.close();
        await lab.close();
      },
    };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

async function ikev2Rig(): Promise<StallRig> {
  const users = ['victim', 'bystander', ...BULK_USERS];
  const lab = await StrongSwanLab.create({ clients: users.length, users });
  try {
    const gw = `stall-ike-${Math.random().toString(36).slice(2, 8)}`;
    const adapter = createAdapter(lab.gatewayConfig({ id: gw, snapshotIntervalMs: 1000 }), silentLogger, {
      intervalMs: 300,
      timeoutMs: 700,
    });
    // Its requests wait in line on one connection, and a terminate still in line at its deadline is
    // dropped (NOT_SENT): 5 s, so that on a busy machine a listing ahead of it in (b) does not use up
    // its time before it is written (CI saw that once with 2 s).
    const h = await startApp({ adapters: [adapter], env: env(5000) });
    for (const c of lab.clients.slice(0, 2)) await c.initiate();
    const pid = () => lab.responder.pid!;
    return {
      h,
      gw,
      adapter,
      pid,
      addUsers: async (names) => {
        for (const c of lab.clients.filter((c) => names.includes(c.user))) await c.initiate();
      },
      stallBeforeNextKill: () => (beforeKill = () => stall(pid())),
      stallDuringListing: () =>
        new Promise<void>((resolve, reject) => {
          beforeListing = () => stall(pid()).then(resolve, reject);
          adapter.snapshot().catch(() => undefined);
        }),
      onDaemon: (user) => lab.establishedAtResponder(user),
      close: async () => {
        await h.close();
        await lab.close();
      },
    };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

async function openconnectRig(): Promise<StallRig & { clients: Record<string, OcLabClient> }> {
  const lab = await OcservLab.create();
  try {
    await lab.start();
    const gw = `stall-oc-${Math.random().toString(36).slice(2, 8)}`;
    const base = processRunner(lab.target);
    const pid = () => lab.pid!;
    // ocserv's `disconnect id` goes through a short-lived occtl: the daemon is stopped right before it runs.
    const adapter = new OpenConnectAdapter(lab.gatewayConfig({ id: gw, snapshotIntervalMs: 1000 }), {
      logger: silentLogger,
      probe: { intervalMs: 300, timeoutMs: 700 },
      runner: async (args, timeoutMs) => {
        if (args[0] === 'disconnect') await takeHook()?.();
        return base(args, timeoutMs);
      },
    });
    const h = await startApp({ adapters: [adapter], env: env(2000) });
    const clients: Record<string, OcLabClient> = {};
    await Promise.all(['victim', 'bystander'].map(async (user) => (clients[user] = await lab.startClient(user))));
    const occtl = new OcctlClient(base);
    return {
      h,
      gw,
      adapter,
      pid,
      clients,
      addUsers: async (users) => {
        await Promise.all(users.map(async (user) => (clients[user] = await lab.startClient(user))));
      },
      stallBeforeNextKill: () => (beforeKill = () => stall(pid())),
      onDaemon: async (user) => (await occtl.users()).some((u) => u.userName === user && u.state === 'connected'),
      close: async () => {
        await h.close();
        await lab.close();
      },
    };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

/**
 * `readsFirst`: the adapter reads the daemon before it writes its command (case a'). `reAdds`: its
 * RESTART and block end in the adapter adding the removed peer back (WireGuard). `oneAtATime`: its
 * requests wait in line behind a listing on one connection (IKEv2, case a'').
 */
const PROTOCOLS: {
  name: string;
  skip: string | false;
  readsFirst: boolean;
  reAdds: boolean;
  oneAtATime: boolean;
  rig: () => Promise<StallRig>;
}[] = [
  {
    name: 'WireGuard (wireguard-go over UAPI)',
    skip: wireguardSkipReason(),
    readsFirst: true,
    reAdds: true,
    oneAtATime: false,
    rig: wireguardRig,
  },
  {
    name: 'IKEv2 (strongSwan charon over VICI)',
    skip: charonSkipReason(),
    readsFirst: false,
    reAdds: false,
    oneAtATime: true,
    rig: ikev2Rig,
  },
  {
    name: 'OpenConnect (ocserv over occtl)',
    skip: ocservSkipReason(),
    readsFirst: true,
    reAdds: false,
    oneAtATime: false,
    rig: openconnectRig,
  },
];

describe('disconnects and a stalled daemon (SIGSTOP), end to end', { concurrency: true }, () => {
  for (const p of PROTOCOLS) {
    describe(p.name, { skip: p.skip, concurrency: 1 }, () => {
      let rig: StallRig;
      let stopped: number | null = null;
      const events: SessionEvent[] = [];
      const sessionOf = (user: string) =>
        waitFor(
          async () => (await rig.h.app.store.sessions.listOnlineByGateway(rig.gw)).find((s) => s.userName === user),
          30_000,
          `${user} online`,
        );
      const stop = async () => {
        stopped = rig.pid();
        await stall(stopped);
      };
      const resume = () => {
        if (stopped !== null) process.kill(stopped, 'SIGCONT');
        stopped = null;
      };
      const ready = () => rig.adapter.isConnected() && rig.adapter.isResponding();
      /** (c): the API answers another query while the daemon is stalled. */
      const serves = async () => {
        const r = await rig.h.gql(ONLINE, { gw: rig.gw });
        assert.equal(r.status, 200, r.text);
        const ids = (r.json.data!.onlineSessions as { edges: { node: { id: string } }[] }).edges.map((e) => e.node.id);
        assert.equal(ids.length, 2, 'both sessions listed');
      };
      const auditOf = async (id: string) =>
        (await rig.h.app.store.audit.list({ first: 10, filter: { targetSessionId: id } })).rows;

      /** Sends `mutation` for session `id` with the daemon stopped right before the kill is written: 503 UNCONFIRMED; then SIGCONT. */
      const stalledKill = async (mutation: string, id: string, token: string) => {
        rig.stallBeforeNextKill();
        try {
          const r = await rig.h.gql(mutation, { id }, token);
          assert.equal(beforeKill, null, 'the kill reached the point where it is written');
          assert.equal(r.status, 503, r.text);
          const error = r.json.errors![0]! as { extensions: { code: string; disconnect?: string } };
          assert.deepEqual(error.extensions, { code: 'GATEWAY_UNAVAILABLE', disconnect: 'UNCONFIRMED' });
        } finally {
          stopped = rig.pid();
          resume();
        }
      };
      const endedAsOperators = (id: string, actor: string) =>
        waitFor(
          async () => {
            const s = await rig.h.app.store.sessions.findById(id);
            return s?.endCause === 'ADMIN_DISCONNECT' && s.endedByName === actor ? s : null;
          },
          30_000,
          `session ${id} ended as ${actor}'s`,
        );

      before(async () => {
        rig = await p.rig();
        rig.h.app.bus.subscribe(subjects.sessionEvents, (e) => void events.push(e as SessionEvent));
      });
      after(async () => {
        resume();
        beforeKill = null;
        beforeListing = null;
        await rig?.close();
      });

      /**
       * A disconnect sent while `stallIt` holds the daemon: 503 NOT_SENT, audited so, the API serving;
       * after SIGCONT the daemon still has the session and nothing is settled late (`ranLate` says why).
       */
      const notSentAndNeverRun = async (stallIt: () => Promise<void>, ranLate: string) => {
        await waitFor(ready, 30_000, 'the agent ready');
        const victim = await sessionOf('victim');
        const before = (await auditOf(victim.id)).length;
        await stallIt();
        try {
          const r = await rig.h.gql(SEED, { id: victim.id });
          assert.equal(r.status, 503, r.text);
          const error = r.json.errors![0]! as { extensions: { code: string; disconnect?: string } };
          assert.deepEqual(error.extensions, { code: 'GATEWAY_UNAVAILABLE', disconnect: 'NOT_SENT' });
          const audit = await auditOf(victim.id);
          assert.deepEqual(
            audit.slice(0, audit.length - before).map((a) => [a.outcome, a.metadata.disconnect ?? null]),
            [
              ['GATEWAY_UNAVAILABLE', 'NOT_SENT'],
              ['PENDING', null],
            ],
          );
          await serves();
        } finally {
          resume();
        }
        await waitFor(ready, 30_000, 'the agent linked and answered again');
        await rig.adapter.snapshot();
        await rig.h.app.sync.idle();
        assert.equal(await rig.onDaemon('victim'), true, `the daemon still has the session${ranLate}`);
        assert.ok(await rig.h.app.store.sessions.findOnline(victim.id), 'still online in the record');
        assert.equal((await auditOf(victim.id)).length, before + 2, 'no late settlement');
      };

      test('(a) stalled, and the agent noticed: NOT_SENT at once, nothing written; after SIGCONT the session is still online', async () => {
        await sessionOf('bystander');
        await notSentAndNeverRun(async () => {
          await stop();
          await waitFor(() => !ready(), 20_000, 'the agent noticed the stall');
        }, ': nothing ran late');
      });

      if (p.readsFirst)
        test("(a') stalled just before the disconnect, unnoticed: the read before the command gets no answer; NOT_SENT, and nothing runs later", async () => {
          await notSentAndNeverRun(stop, '');
        });

      if (p.oneAtATime)
        test("(a'') stalled with a listing in flight, the disconnect queued behind it: its terminate not written by the deadline is dropped; NOT_SENT, and it never runs later", async () => {
          await notSentAndNeverRun(async () => {
            stopped = rig.pid();
            await rig.stallDuringListing!();
          }, ': the terminate never ran');
        });

      test("(b) stalled with the kill written: 503 UNCONFIRMED, PENDING; after SIGCONT the daemon runs it and the end is the operator's", async () => {
        const hook = await rig.h.gql(
          'mutation { createWebhook(input: { url: "http://127.0.0.1:9/hook", events: [SESSION_DISCONNECTED] }) { webhook { id } } }',
        );
        const webhookId = (hook.json.data!.createWebhook as { webhook: { id: string } }).webhook.id;
        await waitFor(ready, 30_000, 'the agent ready');
        const victim = await sessionOf('victim');
        const bystander = await sessionOf('bystander');
        const ops = await rig.h.token(['sessions:disconnect', 'sessions:read'], 'night-ops');
        const before = (await auditOf(victim.id)).length;

        await rig.adapter.snapshot(); // no listing of its own in line ahead of the kill
        rig.stallBeforeNextKill();
        try {
          const r = await rig.h.gql(DISCONNECT, { id: victim.id }, ops);
          assert.equal(beforeKill, null, 'the kill reached the point where it is written');
          assert.equal(r.status, 503, r.text);
          const error = r.json.errors![0]! as { message: string; extensions: { code: string; disconnect?: string } };
          assert.deepEqual(error.extensions, { code: 'GATEWAY_UNAVAILABLE', disconnect: 'UNCONFIRMED' });
          assert.match(error.message, /may still take effect/);
          const audit = await auditOf(victim.id);
          assert.deepEqual(
            audit.slice(0, audit.length - before).map((a) => [a.outcome, a.actorName, a.reason]),
            [['PENDING', 'night-ops', 'stall incident']],
          );
          assert.ok(await rig.h.app.store.sessions.findOnline(victim.id), 'not recorded as ended while unconfirmed');
          await serves();
          // Another operator tries again once the agent noticed the stall: the agent sends nothing now,
          // yet the first kill may still run, so the answer is "under way", never NOT_SENT.
          await waitFor(() => !ready(), 20_000, 'the agent noticed the stall');
          const again = await rig.h.gql(SEED, { id: victim.id }, await rig.h.token(['sessions:disconnect'], 'day-ops'));
          assert.equal(again.status, 503, again.text);
          assert.deepEqual((again.json.errors![0]! as { extensions: unknown }).extensions, {
            code: 'GATEWAY_UNAVAILABLE',
            disconnect: 'UNCONFIRMED',
          });
          const retried = await auditOf(victim.id);
          assert.deepEqual(
            retried.slice(0, retried.length - before).map((a) => [a.outcome, a.actorName, a.metadata.resend ?? false]),
            [
              ['PENDING', 'day-ops', true],
              ['PENDING', 'night-ops', false],
            ],
            'the retry is one more attempt of the same intent',
          );
        } finally {
          stopped = rig.pid();
          resume();
        }

        const ended = await waitFor(
          async () => {
            const s = await rig.h.app.store.sessions.findById(victim.id);
            return s?.endedAt != null ? s : null;
          },
          30_000,
          'the session recorded as ended',
        );
        assert.deepEqual(
          [ended.endCause, ended.endedByName, ended.endReason],
          ['ADMIN_DISCONNECT', 'night-ops', 'stall incident'],
        );
        const audit = await auditOf(victim.id);
        const [done, resent, pending] = audit;
        assert.deepEqual(
          audit.slice(0, audit.length - before).map((a) => a.outcome),
          ['SUCCESS', 'PENDING', 'PENDING'],
          'pending (twice), then settled once',
        );
        assert.equal(done!.metadata.intentId, pending!.metadata.intentId);
        assert.equal(resent!.metadata.intentId, pending!.metadata.intentId);
        assert.deepEqual(
          [done!.actorName, done!.reason, done!.metadata.late, done!.metadata.confirmedBy],
          ['night-ops', 'stall incident', true, 'DAEMON_REPORT'],
        );
        await waitFor(
          () => events.some((e) => e.type === 'session.disconnected' && e.session.id === victim.id),
          10_000,
          'the event',
        );
        const mine = events.filter((e) => e.type === 'session.disconnected' && e.session.id === victim.id);
        assert.deepEqual(
          mine.map((e) => [e.cause, e.actor?.name, e.reason]),
          [['ADMIN_DISCONNECT', 'night-ops', 'stall incident']],
        );
        const deliveries = await rig.h.app.store.webhooks.listDeliveries(webhookId, 50);
        assert.deepEqual(
          deliveries.filter((d) => d.eventId === mine[0]!.id).map((d) => d.eventType),
          ['session.disconnected'],
          'its webhook row',
        );

        await waitFor(ready, 30_000, 'the agent ready again');
        await rig.adapter.snapshot();
        await rig.h.app.sync.idle();
        assert.equal(await rig.onDaemon('victim'), false, 'the daemon ended it');
        assert.equal(await rig.onDaemon('bystander'), true, 'the other session is untouched');
        assert.ok(await rig.h.app.store.sessions.findOnline(bystander.id), 'and online in the record');
      });

      if (p.reAdds) {
        test("RESTART whose removal runs late (stalled): the end is the operator's, and the peer is added back and comes back as a new session", async () => {
          await waitFor(ready, 30_000, 'the agent ready');
          const old = await sessionOf('bystander');
          const ops = await rig.h.token(['sessions:disconnect'], 'restart-ops');
          const RESTART =
            'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: RESTART, reason: "rekey" }) { outcome } }';
          await stalledKill(RESTART, old.id, ops);
          await endedAsOperators(old.id, 'restart-ops');
          await waitFor(() => rig.onDaemon('bystander'), 30_000, 'the peer back on the interface');
          await waitFor(
            async () => (await sessionOf('bystander')).id !== old.id,
            60_000,
            'bystander back as a new session',
          );
        });

        test("a block whose removal runs late (stalled): the end is the operator's, the peer stays out while blocked and is added back when the block is lifted", async () => {
          await waitFor(ready, 30_000, 'the agent ready');
          const session = await sessionOf('bystander');
          const ops = await rig.h.token(['admin'], 'block-ops');
          const BLOCK =
            'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, blockSeconds: 3600, reason: "cool down" }) { outcome } }';
          await stalledKill(BLOCK, session.id, ops);
          await endedAsOperators(session.id, 'block-ops');
          await waitFor(
            async () => (await rig.h.app.store.blocks.listActive(Date.now(), { gatewayId: rig.gw })).length === 1,
            10_000,
            'the block recorded',
          );
          await rig.adapter.snapshot();
          assert.equal(await rig.onDaemon('bystander'), false, 'held out while the block runs');
          const lifted = await rig.h.gql(
            'mutation ($gw: String!) { liftBlock(input: { gatewayId: $gw, userName: "bystander", reason: "done" }) { userName } }',
            { gw: rig.gw },
            ops,
          );
          assert.deepEqual(lifted.json, { data: { liftBlock: { userName: 'bystander' } } }, lifted.text);
          await waitFor(() => rig.onDaemon('bystander'), 30_000, 'the peer back on the interface');
        });
      }

      test("a bulk disconnect whose first kill meets the stall: each answer is what the daemon did (NOT_SENT: still online; otherwise the operator's end)", async () => {
        await waitFor(ready, 30_000, 'the agent ready');
        await rig.addUsers(BULK_USERS);
        const ids = await Promise.all(BULK_USERS.map(async (user) => (await sessionOf(user)).id));
        const ops = await rig.h.token(['sessions:disconnect'], 'bulk-ops');
        const BULK =
          'mutation ($ids: [String!]) { disconnectSessions(input: { sessionIds: $ids, reason: "bulk stall" }) { matched results { sessionId outcome } } }';
        let results: { sessionId: string; outcome: string }[];
        rig.stallBeforeNextKill();
        try {
          const r = await rig.h.gql(BULK, { ids }, ops);
          assert.equal(r.json.errors, undefined, r.text);
          const payload = r.json.data!.disconnectSessions as { matched: number; results: typeof results };
          results = payload.results;
          assert.equal(payload.matched, BULK_USERS.length);
          assert.equal(beforeKill, null, 'a kill reached the point where it is written');
          assert.ok(
            results.some((x) => x.outcome === 'UNCONFIRMED'),
            `the kill written to the stalled daemon is UNCONFIRMED: ${JSON.stringify(results)}`,
          );
          assert.ok(
            results.every((x) => ['ENDED', 'NOT_SENT', 'UNCONFIRMED'].includes(x.outcome)),
            JSON.stringify(results),
          );
        } finally {
          stopped = rig.pid();
          resume();
        }
        await waitFor(ready, 30_000, 'the agent ready again');
        for (const { sessionId, outcome } of results) {
          const user = BULK_USERS[ids.indexOf(sessionId)]!;
          if (outcome === 'NOT_SENT') continue;
          await endedAsOperators(sessionId, 'bulk-ops');
          assert.equal(await rig.onDaemon(user), false, `${user} (${outcome}) ended on the daemon`);
        }
        await rig.adapter.snapshot();
        await rig.h.app.sync.idle();
        for (const { sessionId } of results.filter((x) => x.outcome === 'NOT_SENT')) {
          const user = BULK_USERS[ids.indexOf(sessionId)]!;
          assert.equal(await rig.onDaemon(user), true, `${user} (NOT_SENT) still on the daemon: nothing ran late`);
          assert.ok(await rig.h.app.store.sessions.findOnline(sessionId), `${user} still online in the record`);
        }
      });
    });
  }
});
