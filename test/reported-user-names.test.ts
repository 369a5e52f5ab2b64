/**
 * Every user name a gateway may report can be named through the API, on SQLite and PostgreSQL: the
 * sessions filter and History find it, and a block set on it by a disconnect can be lifted.
 * - One as long as a report may carry (MAX_USER_NAME_CHARS: an IKEv2 identity that is a whole DN, a
 *   WireGuard peer's `user` in the gateway file): the API capped user names at 256 characters while
 *   gateways reported up to 512, so a block on such a user could not be lifted until it expired.
 * - One with control characters (an escape sequence, a tab: an EAP identity or a login is the
 *   client's bytes): the API refused control characters in a user name while reports carried them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionReportSchema } from '../src/core/reports.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp } from './support/app-harness.js';
import { databaseFor, postgresSkipReason } from './support/postgres.js';

/** The longest user name an agent's session report may carry (what the API must be able to name). */
const SAMPLE = new FakeAdapter({ id: 'gw-sample' }).connect('sample');
const reportable = (userName: string) => sessionReportSchema.safeParse({ ...SAMPLE, userName }).success;
const REPORTED_MAX = (() => {
  let n = 1;
  while (reportable('x'.repeat(n * 2))) n *= 2;
  while (reportable('x'.repeat(n + 1))) n += 1;
  return n;
})();

const stores = { sqlite: false as const, postgres: await postgresSkipReason() };
const ONLINE = 'query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { edges { node { id } } } }';
const HISTORY = 'query ($f: SessionHistoryFilter) { sessionHistory(filter: $f) { edges { node { id endedAt } } } }';
const DISCONNECT = 'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome } }';
const BLOCKS = '{ blocks { userName } }';
const LIFT = 'mutation ($in: LiftBlockInput!) { liftBlock(input: $in) { userName } }';

const NAMES = {
  'as long as a gateway may report': `cn=${'x'.repeat(REPORTED_MAX - 3)}`,
  'with an escape sequence and a tab': 'eve\u001b[31m\tadmin',
};

for (const dialect of ['sqlite', 'postgres'] as const) {
  for (const [what, name] of Object.entries(NAMES)) {
    test(
      `${dialect}: a user name ${what} is filtered, found in History, blocked and lifted`,
      { skip: stores[dialect] },
      async () => {
        const db = await databaseFor(dialect);
        const gw = new FakeAdapter({ id: `gw-long-${dialect}` });
        const h = await startApp({ adapters: [gw], databaseUrl: db.url });
        try {
          assert.ok(reportable(name), 'a report may carry it');
          gw.connect(name);
          await h.settle();
          const ids = (r: Awaited<ReturnType<typeof h.gql>>, field: string) => {
            assert.equal(r.json.errors, undefined, r.text.slice(0, 300));
            return (r.json.data?.[field] as { edges: { node: { id: string } }[] }).edges.map((e) => e.node.id);
          };
          const [id] = ids(await h.gql(ONLINE, { f: { userName: name } }), 'onlineSessions');
          assert.ok(id, 'the filter finds the session');

          const down = await h.gql(DISCONNECT, { in: { sessionId: id, blockSeconds: 3600 } });
          assert.equal(down.json.errors, undefined, down.text.slice(0, 300));
          await h.settle();
          assert.deepEqual(ids(await h.gql(HISTORY, { f: { userName: name } }), 'sessionHistory'), [id]);
          assert.deepEqual((await h.gql(BLOCKS)).json.data?.blocks, [{ userName: name }]);

          const lift = await h.gql(LIFT, { in: { gatewayId: gw.config.id, userName: name } });
          assert.equal(lift.json.errors, undefined, lift.text.slice(0, 300));
          assert.deepEqual((await h.gql(BLOCKS)).json.data?.blocks, [], 'the block is lifted');

          const over = await h.gql(ONLINE, { f: { userName: `${'x'.repeat(REPORTED_MAX)}x` } });
          assert.equal(
            (over.json.errors as { extensions: { code: string } }[] | undefined)?.[0]?.extensions.code,
            'BAD_USER_INPUT',
          );
        } finally {
          await h.close();
          await db.drop();
        }
      },
    );
  }
}
