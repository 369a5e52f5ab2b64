/**
 * The wire contract at both ends, on the in-process bus and on the NATS server: a report is applied
 * only for the gateway its subject names, only in the version this build speaks, and only within the
 * contract's bounds; a disconnect request the agent cannot read reaches no daemon.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeAdapter } from '../../test/support/fake-adapter.js';
import { waitFor } from '../../test/support/wait.js';
import { subjects, type Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { connectNatsBus } from '../bus/nats/nats-bus.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from '../../test/support/nats-server.js';
import { randomId } from '../domain/ids.js';
import { openStore } from '../store/kysely/kysely-store.js';
import type { Store } from '../store/store.js';
import { AgentLink } from './agent-link.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import {
  disconnectRequestSchema,
  MAX_DISCONNECT_BATCH,
  readWire,
  versioned,
  WIRE_VERSION,
  type GatewayReport,
} from './reports.js';
import { DisconnectUseCase } from './disconnect.js';
import type { Session } from '../domain/session.js';
import type { DisconnectIntent } from '../domain/disconnect-intent.js';
import { Switchboard } from './switchboard.js';
import { SessionSync } from './sync/session-sync.js';
import { sessionReport } from '../../test/support/session-report.js';

interface Line {
  level: string;
  obj: object;
  msg: string;
}
function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (obj: object, msg = '') =>
      void lines.push({ level, obj, msg });
  const logger: Logger = {
    ...silentLogger,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

const natsSkip = await natsSkipReason();

for (const kind of ['memory', 'nats'] as const) {
  describe(`wire contract on the ${kind} bus`, { skip: kind === 'nats' ? natsSkip : false }, () => {
    const run = randomId(6);
    const gw1 = `wire1-${run}`;
    const gw2 = `wire2-${run}`;
    const lines: Line[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'wire-contract-'));
    let store: Store;
    let planeBus: Bus;
    let agentBus: Bus;
    let sync: SessionSync;
    let core: Switchboard;
    let agents: AgentLink;
    const adapters = [new FakeAdapter({ id: gw1 }), new FakeAdapter({ id: gw2 })];
    const reader = { tokenId: 'tok_r', name: 'reader', scopes: ['sessions:read' as const], ip: null, userAgent: null };
    const online = async (gatewayId: string) =>
      (await store.sessions.listOnline({ first: 100, after: null, filter: { gatewayId } })).rows
        .map((s) => s.userName)
        .sort();
    const gatewayView = async (id: string) => (await core.gateways(reader)).find((g) => g.id === id)!;

    before(async () => {
      store = await openStore(join(dir, 'wire.db'));
      planeBus =
        kind === 'memory'
          ? new MemoryBus()
          : await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'wire-plane' });
      agentBus =
        kind === 'memory'
          ? planeBus
          : await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'wire-agent' });
      const logger = recordingLogger(lines);
      sync = new SessionSync({ store, bus: planeBus, logger });
      sync.start();
      core = new Switchboard({
        store,
        bus: planeBus,
        logger,
        disconnectDeadlineMs: 2000,
        gatewayLivenessMs: 15_000,
        wireStatus: (id) => sync.intake.status(id),
      });
      adapters[0]!.connect('alice');
      adapters[1]!.connect('carol');
      adapters[1]!.connect('dave');
      await planeBus.flush(2000); // the sync's subscription is at the server before the agent reports
      agents = new AgentLink({ bus: agentBus, adapters, logger, heartbeatMs: 60_000 });
      agents.start();
      await waitFor(
        async () => (await online(gw2)).length === 2 && (await online(gw1)).length === 1,
        10_000,
        'both gateways listed',
      );
    });

    after(async () => {
      await agents?.stop();
      sync?.stop();
      await sync?.idle();
      if (agentBus !== planeBus) await agentBus?.close();
      await planeBus?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A report as an agent would send it, with the envelope filled in. */
    const report = (body: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
      gatewayId: gw1,
      agentId: 'agt_forger',
      seq: 1,
      at: Date.now(),
      version: WIRE_VERSION,
      ...body,
      ...over,
    });
    const snapshotOf = (gatewayId: string, users: string[]) =>
      report(
        {
          type: 'snapshot',
          gateway: { name: 'forged', region: 'x', protocol: 'openvpn', mode: 'observe' },
          daemonStartedAt: 1,
          sessions: users.map((u, i) => sessionReport({ ref: `forged:${i}`, userName: u, commonName: u })),
        },
        { gatewayId },
      );

    test("a snapshot on gateway 1's subject whose body says gateway 2 is dropped, counted and logged at warn", async () => {
      const before = sync.intake.counters.gatewayMismatch;
      await agentBus.publish(subjects.gatewayReport(gw1), snapshotOf(gw2, ['mallory']));
      await waitFor(() => sync.intake.counters.gatewayMismatch > before, 5000, 'the forged report counted');
      await sync.idle();
      assert.deepEqual(await online(gw2), ['carol', 'dave'], 'gateway 2 keeps its sessions');
      assert.deepEqual(await online(gw1), ['alice'], 'no fake session on gateway 1');
      assert.equal((await gatewayView(gw1)).rejectedReports, 1);
      assert.equal((await gatewayView(gw2)).rejectedReports, 0);
      const warn = lines.find((l) => l.level === 'warn' && /names another gateway/.test(l.msg));
      assert.ok(warn, 'logged at warn');
      assert.deepEqual(
        { ...warn.obj, rejectedReports: undefined },
        { gatewayId: gw1, claimedGatewayId: gw2, type: 'snapshot', agentId: 'agt_forger', rejectedReports: undefined },
      );
    });

    test('a report of another wire version is refused with one error line; the gateway shows degraded until a readable one arrives', async () => {
      const before = sync.intake.counters.unsupportedVersion;
      for (const seq of [1, 2, 3])
        await agentBus.publish(subjects.gatewayReport(gw2), { ...snapshotOf(gw2, []), seq, version: WIRE_VERSION + 1 });
      await waitFor(() => sync.intake.counters.unsupportedVersion === before + 3, 5000, 'three refused');
      await sync.idle();
      assert.deepEqual(await online(gw2), ['carol', 'dave'], 'the empty snapshot of another version ended nothing');
      const view = await gatewayView(gw2);
      assert.match(
        view.degradedReason ?? '',
        new RegExp(`wire version ${WIRE_VERSION + 1}, this build speaks ${WIRE_VERSION}`),
      );
      assert.equal(view.rejectedReports, 3);
      assert.equal(
        lines.filter((l) => l.level === 'error' && /gateway degraded/.test(l.msg)).length,
        1,
        'one line, not one per message',
      );
      await adapters[1]!.snapshot(); // the genuine agent's next snapshot
      await waitFor(async () => (await gatewayView(gw2)).degradedReason === null, 5000, 'degraded cleared');
    });

    test("a report without a version, or beyond the contract's bounds, is dropped", async () => {
      const before = { ...sync.intake.counters };
      const { version: _v, ...unversioned } = snapshotOf(gw1, []);
      await agentBus.publish(subjects.gatewayReport(gw1), unversioned);
      await agentBus.publish(subjects.gatewayReport(gw1), snapshotOf(gw1, ['x'.repeat(513)]));
      await agentBus.publish(subjects.gatewayReport(gw1), report({ type: 'link-down', error: 'e'.repeat(1001) }));
      await agentBus.publish(subjects.gatewayReport(gw1), {
        ...snapshotOf(gw1, []),
        sessions: Array.from({ length: 1001 }, () => ({})),
      });
      await waitFor(
        () =>
          sync.intake.counters.invalid === before.invalid + 3 &&
          sync.intake.counters.unsupportedVersion === before.unsupportedVersion + 1,
        5000,
        'all four dropped',
      );
      await sync.idle();
      assert.deepEqual(await online(gw1), ['alice'], 'none of them ended or created a session');
      assert.equal(
        (await store.gateways.findById(gw1))!.agentConnected,
        true,
        'the oversized link-down was not applied',
      );
    });

    test('a snapshot checked in slices: a bad session is refused with the error naming it; one with a key the contract does not name is applied', async () => {
      const gw3 = `wire-sliced-${run}`;
      const users = Array.from({ length: 250 }, (_, i) => `s${i}`);
      const before = { ...sync.intake.counters };
      const bad = snapshotOf(gw3, users);
      (bad as unknown as { sessions: Record<string, unknown>[] }).sessions[180]!.bytesSent = -1;
      lines.length = 0;
      await agentBus.publish(subjects.gatewayReport(gw3), bad);
      await waitFor(() => sync.intake.counters.invalid === before.invalid + 1, 5000, 'the bad snapshot dropped');
      const warn = lines.find((l) => l.level === 'warn' && /does not fit the wire contract/.test(l.msg));
      assert.match(String((warn?.obj as { problem?: unknown }).problem), /^sessions\.180\.bytesSent: /);
      await sync.idle();
      assert.equal(await store.gateways.findById(gw3), null, 'nothing of it applied');

      const good = snapshotOf(gw3, users);
      (good as unknown as { sessions: Record<string, unknown>[] }).sessions[7]!.extra = 'x'.repeat(10_000);
      await agentBus.publish(subjects.gatewayReport(gw3), good);
      await waitFor(
        async () => (await store.sessions.listOnlineStatsByGateway(gw3)).length === 250,
        5000,
        'the good snapshot applied',
      );
      assert.equal(sync.intake.counters.invalid, before.invalid + 1);
      const stored = await store.sessions.findByRef(gw3, 'forged:7');
      assert.equal(stored?.userName, 's7', 'a session with a key the contract does not name is applied, without it');
    });

    test("a session whose name the contract cannot carry is left out of the reports, logged once without its name; the gateway's snapshots still apply", async () => {
      const gw = adapters[0]!;
      const long = 'L'.repeat(600);
      lines.length = 0;
      const tall = gw.connect(long);
      const bob = gw.connect('bob');
      await waitFor(async () => (await online(gw1)).includes('bob'), 5000, 'bob recorded');
      // bob leaves without a word (a lost event): only a snapshot can end him in the record, and a
      // snapshot listing the long name was refused whole.
      gw.sessions.delete(bob.ref);
      await gw.snapshot();
      await gw.snapshot();
      await waitFor(async () => !(await online(gw1)).includes('bob'), 5000, 'the snapshot ended bob');
      await sync.idle();
      assert.deepEqual(await online(gw1), ['alice'], 'the long-named session is not in the record');
      const left = lines.filter((l) => l.level === 'warn' && /contract cannot carry/.test(l.msg));
      assert.equal(left.length, 1, 'logged once, not at every report');
      assert.match(String((left[0]!.obj as { problem?: unknown }).problem), /user name of 600 characters/);
      assert.equal((left[0]!.obj as { ref?: unknown }).ref, tall.ref);
      assert.ok(!JSON.stringify(lines).includes(long), 'the name is never logged');
      assert.deepEqual(
        lines.filter((l) => /does not fit the wire contract/.test(l.msg)),
        [],
        'no report was refused',
      );
      gw.sessions.delete(tall.ref);
    });

    test('a disconnect request the agent cannot read is answered NOT_SENT and reaches no adapter', async () => {
      const request = {
        ref: [...adapters[0]!.sessions.keys()][0],
        userName: 'alice',
        mode: 'HALT',
        message: null,
        blockSeconds: null,
        deadlineMs: 1000,
      };
      const oldAgent = await planeBus.request(
        subjects.gatewayDisconnect(gw1),
        { ...request, version: WIRE_VERSION + 1 },
        { timeoutMs: 2000 },
      );
      assert.deepEqual(
        { ...(oldAgent as object), detail: undefined },
        { outcome: 'NOT_SENT', detail: undefined, version: WIRE_VERSION },
      );
      const huge = await planeBus.request(
        subjects.gatewayDisconnect(gw1),
        { ...request, message: 'm'.repeat(241), version: WIRE_VERSION },
        { timeoutMs: 2000 },
      );
      assert.equal((huge as { outcome: string }).outcome, 'NOT_SENT');
      assert.deepEqual(adapters[0]!.commands, [], 'no command reached the daemon');
      assert.deepEqual(await online(gw1), ['alice']);
    });

    test('a bulk disconnect sends its kills in one batch request; the agent answers each, in order', async () => {
      const users = Array.from({ length: 7 }, (_, i) => `batch-${i}`);
      for (const u of users) adapters[0]!.connect(u);
      await waitFor(async () => (await online(gw1)).length === 1 + users.length, 10_000, 'batch sessions listed');
      const seen: unknown[] = [];
      const request = planeBus.request.bind(planeBus);
      planeBus.request = (subject, data, options) => {
        if (subject === subjects.gatewayDisconnect(gw1)) seen.push(data);
        return request(subject, data, options);
      };
      const commands = adapters[0]!.commands.length;
      try {
        const admin = { tokenId: 'tok_a', name: 'ops', scopes: ['admin' as const], ip: null, userAgent: null };
        const result = await core.disconnectSessions(admin, { filter: { gatewayId: gw1, userName: 'batch-3' } });
        assert.equal(result.ended, 1);
        const all = await core.disconnectSessions(admin, { filter: { gatewayId: gw1 } });
        assert.deepEqual([all.matched, all.ended, all.failed], [7, 7, 0]);
      } finally {
        planeBus.request = request;
      }
      // One kill alone goes as one request; the rest (alice and six batch users) in one batch of seven.
      assert.deepEqual(
        seen.map((d) => ((d as { kills?: unknown[] }).kills ?? [d]).length),
        [1, 7],
      );
      assert.equal('ref' in (seen[0] as object), true, 'the lone kill is a plain request');
      assert.equal((seen[1] as { version: number }).version, WIRE_VERSION);
      assert.equal(adapters[0]!.commands.length, commands + 8, 'every kill reached the daemon once');
      assert.deepEqual(await online(gw1), []);
      // Straight to the agent: one reply per kill, in order; a ref the daemon does not know is NOT_FOUND.
      const alive = adapters[0]!.connect('batch-late');
      const reply = await planeBus.request(
        subjects.gatewayDisconnect(gw1),
        {
          kills: [
            { ref: 'gone:1', userName: 'nobody', mode: 'HALT', message: null, blockSeconds: null },
            { ref: alive.ref, userName: 'batch-late', mode: 'HALT', message: 'bye', blockSeconds: null },
          ],
          deadlineMs: 1000,
          version: WIRE_VERSION,
        },
        { timeoutMs: 2000 },
      );
      assert.deepEqual(reply, { replies: [{ outcome: 'NOT_FOUND' }, { outcome: 'ENDED' }], version: WIRE_VERSION });
    });

    test('a batch of kills the agent cannot read is refused whole, NOT_SENT, and reaches no adapter', async () => {
      const alive = adapters[0]!.connect('batch-refused');
      const kill = { ref: alive.ref, userName: 'batch-refused', mode: 'HALT', message: null, blockSeconds: null };
      const commands = adapters[0]!.commands.length;
      for (const kills of [
        [kill, { ...kill, message: 'm'.repeat(241) }],
        Array.from({ length: MAX_DISCONNECT_BATCH + 1 }, () => kill),
        [],
      ]) {
        const reply = await planeBus.request(
          subjects.gatewayDisconnect(gw1),
          { kills, deadlineMs: 1000, version: WIRE_VERSION },
          { timeoutMs: 2000 },
        );
        assert.equal((reply as { outcome: string }).outcome, 'NOT_SENT');
      }
      assert.equal(adapters[0]!.commands.length, commands, 'no command reached the daemon');
    });

    test('an agent that predates the batch refuses it unread; the kills then go one request each', async () => {
      const gwOld = `wire-old-${run}`;
      const heard: string[] = [];
      // The agent as it was before the batch: one kill per request, anything else refused NOT_SENT.
      const stop = agentBus.serve(subjects.gatewayDisconnect(gwOld), async (data) => {
        const req = readWire(disconnectRequestSchema, data);
        heard.push(req.ok ? req.value.ref : 'refused');
        return versioned(
          req.ok
            ? { outcome: 'ENDED' }
            : { outcome: 'NOT_SENT', detail: `request refused by the agent: ${req.detail}` },
        );
      });
      await agentBus.flush(2000);
      const use = new DisconnectUseCase({ store, bus: planeBus, logger: silentLogger, deadlineMs: 2000 });
      const kill = (ref: string) => ({
        session: { ref, userName: 'old', gatewayId: gwOld } as Session,
        intent: { mode: 'HALT', message: null, blockSeconds: null } as unknown as DisconnectIntent,
      });
      try {
        const replies = await use.sendMany([kill('old:1'), kill('old:2'), kill('old:3')]);
        assert.deepEqual(replies, [{ outcome: 'ENDED' }, { outcome: 'ENDED' }, { outcome: 'ENDED' }]);
        assert.deepEqual(heard, ['refused', 'old:1', 'old:2', 'old:3']);
        // Known now: the next kills go one by one at once.
        assert.deepEqual(await use.sendMany([kill('old:4'), kill('old:5')]), [
          { outcome: 'ENDED' },
          { outcome: 'ENDED' },
        ]);
        assert.deepEqual(heard.slice(4), ['old:4', 'old:5']);
      } finally {
        stop();
      }
      // No agent at all: certainly not sent, every kill.
      const none = await use.sendMany(
        [kill('x:1'), kill('x:2')].map((k) => ({ ...k, session: { ...k.session, gatewayId: `wire-none-${run}` } })),
      );
      assert.deepEqual(
        none.map((r) => r.outcome),
        ['NOT_SENT', 'NOT_SENT'],
      );
    });

    test('a delta of a gateway no replica knows yet logs no error and asks the agents for snapshots', async () => {
      const gw3 = `wire3-${run}`;
      const hellos: unknown[] = [];
      const off = agentBus.subscribe(subjects.replicaHello, (d) => void hellos.push(d));
      await agentBus.flush(2000);
      const session = sessionReport({ ref: 'early:1', userName: 'erin', commonName: 'erin' });
      await agentBus.publish(
        subjects.gatewayReport(gw3),
        report({ type: 'session.connected', session }, { gatewayId: gw3 }),
      );
      await agentBus.publish(
        subjects.gatewayReport(gw3),
        report({ type: 'session.connected', session: { ...session, ref: 'early:2' } }, { gatewayId: gw3, seq: 2 }),
      );
      await waitFor(() => hellos.length > 0, 5000, 'a hello asks the agents for snapshots');
      off();
      await sync.idle();
      assert.deepEqual(await online(gw3), []);
      assert.deepEqual(
        lines.filter((l) => l.level === 'error' && JSON.stringify(l.obj).includes(gw3)),
        [],
        'no error line',
      );
      assert.equal(
        lines.filter((l) => l.level === 'info' && (l.obj as { gatewayId?: string }).gatewayId === gw3).length,
        1,
        'one info line',
      );
      assert.deepEqual(
        { ...(hellos[0] as object), replicaId: undefined },
        { version: WIRE_VERSION, replicaId: undefined },
      );
    });

    test('what the agent sends fits the contract: version, envelope, and the gateway of its subject', async () => {
      const got: unknown[] = [];
      const off = planeBus.subscribe(subjects.gatewayReport(gw1), (d) => void got.push(d));
      await planeBus.flush(2000);
      await adapters[0]!.snapshot();
      // Heartbeats travel on the same subject and may come first: the snapshot is the one asked for.
      const r = await waitFor(
        () =>
          got.find((d) => (d as { type?: string }).type === 'snapshot') as
            (GatewayReport & { version: number }) | undefined,
        5000,
        'a snapshot seen',
      );
      off();
      assert.equal(r.version, WIRE_VERSION);
      assert.equal(r.gatewayId, gw1);
      for (const d of got)
        assert.equal((d as { version: number }).version, WIRE_VERSION, 'every report carries the version');
    });
  });
}
