/**
 * What no store or serializer keeps as sent is refused by the wire contract: text with U+0000 or a
 * lone surrogate, a time past the last instant a Date holds (no ISO-8601 can show it). The same on
 * SQLite and on PostgreSQL, over the in-process bus and over NATS: the report is dropped and counted,
 * logged at warn with the field it was in, and the gateway's next readable report is applied. Without
 * the check PostgreSQL failed the whole snapshot's transaction over a NUL (an error line per
 * snapshot, none of the gateway's sessions listed) while SQLite stored the name; and a connectedAt of
 * 2^53 - 1 ms was stored, or failed its transaction where a webhook made a payload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { natsSkipReason, TEST_NATS_PREFIX, TEST_NATS_URL } from '../../test/support/nats-server.js';
import { sessionReport } from '../../test/support/session-report.js';
import { waitFor } from '../../test/support/wait.js';
import { subjects, type Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { connectNatsBus } from '../bus/nats/nats-bus.js';
import { randomId } from '../domain/ids.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import { openStore } from '../store/kysely/kysely-store.js';
import type { Store } from '../store/store.js';
import { ReportIntake } from './report-intake.js';
import { MAX_INSTANT_MS, WIRE_VERSION } from './reports.js';
import { SessionSync } from './sync/session-sync.js';

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (obj: object, msg = '') =>
      void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  const logger: Logger = {
    ...silentLogger,
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

const dir = mkdtempSync(join(tmpdir(), 'wire-text-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const pgSkip = await postgresSkipReason();
const natsSkip = await natsSkipReason();
const STORES = [
  {
    name: 'SQLite',
    skip: false as const,
    open: async () => ({ url: `sqlite:${join(dir, `${randomId(6)}.db`)}`, drop: async () => {} }),
  },
  { name: 'PostgreSQL', skip: pgSkip, open: createFreshPostgresDatabase },
];
const BUSES = [
  { name: 'in-process', skip: false as const },
  { name: 'NATS', skip: natsSkip },
];

const GATEWAY = { name: 'gw', region: 'x', protocol: 'openvpn', mode: 'observe' } as const;

for (const s of STORES) {
  for (const b of BUSES) {
    describe(`unstorable text and times from an agent (${s.name}, ${b.name} bus)`, { skip: s.skip || b.skip }, () => {
      const gatewayId = `wiretext-${randomId(6)}`;
      const lines: Line[] = [];
      let db: { url: string; drop(): Promise<void> };
      let store: Store;
      let bus: Bus;
      let sync: SessionSync;
      let seq = 0;
      let intakeClock = 0;
      const publish = (body: Record<string, unknown>) =>
        bus.publish(subjects.gatewayReport(gatewayId), {
          version: WIRE_VERSION,
          gatewayId,
          agentId: 'agt_forger',
          seq: ++seq,
          at: Date.now() + seq,
          ...body,
        });
      const snapshot = (users: string[], gateway: Record<string, unknown> = GATEWAY) => ({
        type: 'snapshot',
        gateway,
        daemonStartedAt: 1,
        sessions: users.map((u, i) => sessionReport({ ref: `ref:${u.length}:${i}`, userName: u, commonName: u })),
      });
      const online = async () =>
        (await store.sessions.listOnline({ first: 100, after: null, filter: { gatewayId } })).rows
          .map((r) => r.userName)
          .sort();

      before(async () => {
        db = await s.open();
        store = await openStore(db.url);
        bus =
          b.name === 'NATS'
            ? await connectNatsBus({ url: TEST_NATS_URL, prefix: TEST_NATS_PREFIX, name: 'wire-text' })
            : new MemoryBus();
        const logger = recordingLogger(lines);
        // Its own clock, moved on before each case: the intake warns about one gateway once per 10 s.
        const intake = new ReportIntake({ logger, now: () => intakeClock });
        sync = new SessionSync({ store, bus, logger, intake });
        sync.start();
        await bus.flush(2000);
        await publish(snapshot(['alice']));
        await waitFor(async () => (await online()).length === 1, 10_000, 'the first snapshot applied');
      });

      after(async () => {
        sync?.stop();
        await sync?.idle();
        await bus?.close();
        await store?.close();
        await db?.drop();
      });

      const cases: [string, Record<string, unknown>, RegExp][] = [
        ['U+0000 in a user name', snapshot(['alice', 'bob', 'nul\u0000user']), /^sessions\.2\.userName: .*U\+0000/],
        ['a lone surrogate in a user name', snapshot(['alice', 'bob', 'lone\ud800x']), /^sessions\.2\.userName: /],
        ['a trailing high surrogate in a client version', snapshot(['alice', 'bob']), /^sessions\.1\.clientVersion: /],
        [
          'U+0000 in the gateway name',
          snapshot(['alice', 'bob'], { ...GATEWAY, name: 'g\u0000w' }),
          /^gateway\.name: /,
        ],
        [
          'U+0000 in a connected session',
          { type: 'session.connected', session: sessionReport({ ref: 'ref:c', userName: '\u0000' }) },
          /^session\.userName: /,
        ],
        ['U+0000 in a link-down error', { type: 'link-down', error: 'down\u0000' }, /^error: /],
        [
          'a connectedAt past the last instant a Date holds',
          {
            type: 'session.connected',
            session: sessionReport({ ref: 'ref:t', userName: 'later', connectedAt: MAX_INSTANT_MS + 1 }),
          },
          /^session\.connectedAt: /,
        ],
        ['a snapshot at 2^53 - 1 ms', { ...snapshot(['alice', 'bob']), at: Number.MAX_SAFE_INTEGER }, /^at: /],
      ];
      (cases[2]![1] as { sessions: { clientVersion: string }[] }).sessions[1]!.clientVersion = 'v2\ud83d';

      for (const [name, body, problem] of cases) {
        test(`${name}: the report is dropped and counted, logged at warn, nothing applied`, async () => {
          const before = sync.intake.counters.invalid;
          lines.length = 0;
          intakeClock += 60_000;
          await publish(body);
          await waitFor(() => sync.intake.counters.invalid === before + 1, 5000, 'the report dropped');
          await sync.idle();
          const warn = lines.find((l) => l.level === 'warn' && /does not fit the wire contract/.test(l.msg));
          assert.match(String(warn?.obj.problem), problem);
          assert.deepEqual(
            lines.filter((l) => l.level !== 'warn'),
            [],
            'no error line (a store that refused the text would log one)',
          );
          assert.deepEqual(await online(), ['alice'], 'nothing of it applied');
          assert.equal((await store.gateways.findById(gatewayId))?.name, 'gw');
          assert.equal((await store.gateways.findById(gatewayId))?.agentConnected, true);
        });
      }

      test("the gateway's next readable snapshot is applied, and the store keeps its text as sent", async () => {
        await publish(snapshot(['alice', 'bob', 'esc\u001b[31m\u{1F600}']));
        await waitFor(async () => (await online()).length === 3, 5000, 'the readable snapshot applied');
        assert.deepEqual(await online(), ['alice', 'bob', 'esc\u001b[31m\u{1F600}']);
        assert.deepEqual(
          lines.filter((l) => l.level !== 'warn'),
          [],
        );
      });
    });
  }
}
