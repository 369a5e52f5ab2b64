/**
 * Kept answers end to end, on SQLite and PostgreSQL (the whole app, its store, sync and API): a page
 * of online sessions read again and again is never older than a change already acknowledged, neither
 * a new session once its `session.connected` event has reached a subscriber nor an ended one once
 * `disconnectBySessionId` answered true, the very next request, without waiting; a kept answer has
 * the uncached answer's bytes; and a token revoked through the API or by another process (the CLI)
 * is refused at once although its read is kept. On SQLite the reads are answered from kept answers
 * (counted by `switchboard_api_kept_answers_total`); on PostgreSQL, where other replicas write
 * unseen, nothing is kept and every read runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, createFreshPostgresDatabase } from './support/postgres.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { sseSubscribe, type Collected } from './support/subscription-clients.js';
import { cliRevoke, mint } from './support/tokens.js';
import { waitFor } from './support/wait.js';
import { postGraphql, type Reply } from './support/api-client.js';

const GW = 'gw-kept';
const PAGE = `query ($first: Int) { onlineSessions(first: $first) { totalCount edges { cursor node { id user { name }
  gateway { id name agentConnected daemonResponding lastSeenAt sessionsOnline } confirmed connectedAt lastSeenAt
  bytesReceived endedAt } } pageInfo { hasNextPage endCursor } } }`;

const pgSkip = await postgresSkipReason();
const STORES = [
  {
    name: 'SQLite',
    skip: false as string | false,
    kept: true,
    db: async () => ({ url: undefined, drop: async () => {} }),
  },
  { name: 'PostgreSQL', skip: pgSkip, kept: false, db: createFreshPostgresDatabase },
];

const ids = (r: Reply): string[] => {
  assert.equal(r.status, 200, r.text);
  const page = r.json.data!.onlineSessions as { edges: { node: { id: string } }[] };
  return page.edges.map((e) => e.node.id);
};

for (const store of STORES) {
  describe(`kept answers never outlive an acknowledged change (${store.name})`, { skip: store.skip }, () => {
    let h: AppHarness;
    let db: { url: string | undefined; drop(): Promise<void> };
    let gw: FakeAdapter;
    let reader: { id: string; secret: string };
    let events: Collected;
    const read = (token = reader.secret) => h.gql(PAGE, { first: 20 }, token);
    /** Reads the page until it is kept (three reads: prepared, made and kept, served), returns the last. */
    const warm = async (token = reader.secret): Promise<Reply> => {
      await read(token);
      await read(token);
      return read(token);
    };
    /** The event after the first `seen` ones, once it has reached the subscriber. */
    const next = async (seen: number): Promise<{ type: string; session: { id: string } }> => {
      const all = await events.waitFor(seen + 1, 15_000);
      return all[seen]!.sessionEvents as { type: string; session: { id: string } };
    };
    const keptSoFar = async (): Promise<number> => {
      const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${h.admin}` } })).text();
      return Number(/^switchboard_api_kept_answers_total\{operation="onlineSessions"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };

    before(async () => {
      db = await store.db();
      gw = new FakeAdapter({ id: GW });
      h = await startApp({ adapters: [gw], databaseUrl: db.url });
      for (const user of ['alice', 'bob']) gw.connect(user);
      await waitFor(async () => (await h.gql(PAGE, { first: 20 })).text.includes('"totalCount":2'), 15_000, '2 online');
      reader = await mint(h, ['sessions:read']);
      events = await sseSubscribe(h.url, 'subscription { sessionEvents { type session { id } } }', {}, reader.secret);
    });
    after(async () => {
      await events?.close();
      await h?.close();
      await db?.drop();
    });

    test('a kept answer has the bytes of the uncached one, and the reads are kept only on SQLite', async () => {
      const before = await keptSoFar();
      const post = () => postGraphql(h.url, { query: PAGE, variables: { first: 20 } }, { token: reader.secret });
      const first = await post();
      const firstText = await first.text();
      await warm();
      const kept = await post();
      assert.equal(await kept.text(), firstText);
      for (const name of ['content-type', 'content-length', 'cache-control'])
        assert.equal(kept.headers.get(name), first.headers.get(name), name);
      const served = (await keptSoFar()) - before;
      if (store.kept) assert.ok(served >= 2, `kept answers served: ${served}`);
      else assert.equal(served, 0);
    });

    test('a new session is listed by the first read after its session.connected event', async () => {
      const warmIds = ids(await warm());
      const seen = events.events.length;
      const report = gw.connect('carol');
      const event = await next(seen);
      assert.equal(event.type, 'SESSION_CONNECTED');
      const id = event.session.id;
      const now = ids(await read());
      assert.ok(now.includes(id), `${id} (${report.ref}) listed at once: ${now.join(', ')}`);
      assert.equal(now.length, warmIds.length + 1);
    });

    test('a session ended by disconnectBySessionId is gone from the first read after its true', async () => {
      const listed = ids(await warm());
      const target = listed[0]!;
      const seen = events.events.length;
      const r = await h.gql(
        'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }',
        { id: target },
        h.admin,
      );
      assert.equal(r.text, '{"data":{"disconnectBySessionId":true}}');
      const now = ids(await read());
      assert.ok(!now.includes(target), `${target} still listed: ${now.join(', ')}`);
      assert.equal(now.length, listed.length - 1);
      // Its event may reach the subscriber after the true: waited for here, so that the next test's
      // "event after the ones seen" is its own and not this one arriving late (a busy machine).
      const event = await next(seen);
      assert.deepEqual([event.type, event.session.id], ['SESSION_DISCONNECTED', target]);
    });

    test('a session that ends by itself is gone from the first read after its session.disconnected event', async () => {
      const listed = ids(await warm());
      const seen = events.events.length;
      const [ref] = [...gw.sessions.keys()];
      gw.quit(ref!);
      const event = await next(seen);
      assert.equal(event.type, 'SESSION_DISCONNECTED');
      const gone = event.session.id;
      const now = ids(await read());
      assert.ok(!now.includes(gone), `${gone} still listed`);
      assert.equal(now.length, listed.length - 1);
    });

    test('a token revoked through the API is refused at once, its read kept', async () => {
      const t = await mint(h, ['sessions:read']);
      assert.equal((await warm(t.secret)).status, 200);
      const r = await h.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: t.id }, h.admin);
      assert.equal(r.status, 200, r.text);
      const refused = await read(t.secret);
      assert.equal(refused.status, 401, refused.text);
      assert.equal((await read()).status, 200, 'another token with the same scopes still reads');
    });

    test('a token revoked by another process (switchboard token revoke) is refused at once, its read kept', async () => {
      const t = await mint(h, ['sessions:read']);
      assert.equal((await warm(t.secret)).status, 200);
      await cliRevoke(h.databaseUrl, t.id);
      const refused = await read(t.secret);
      assert.equal(refused.status, 401, refused.text);
    });
  });
}
