/**
 * Law 1 on every transport and store: a mutation is answered only once its audit row is committed. An
 * operator who got the answer of a refused disconnect (SESSION_NOT_FOUND) and then reads the audit log
 * finds its row. The commit is held back here, the answer must wait for it: by a hook on the store's
 * transactions (both stores), and on PostgreSQL also by a lock on the audit table held by the test.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { bothStores, type TestDatabase } from './support/postgres.js';
import { waitFor } from './support/wait.js';
import { overSse, overWebSocket, type Answer, type Operation } from './support/graphql-transports.js';
import type { Store } from '../src/store/store.js';

const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const TRANSPORTS = ['http', 'ws', 'sse'] as const;
type Transport = (typeof TRANSPORTS)[number];

async function overHttp(h: AppHarness, op: Operation): Promise<Answer> {
  const r = await h.gql(op.query, op.variables);
  const e = (r.json.errors as { message: string; extensions?: { code?: string } }[] | undefined)?.[0];
  return { status: r.status, code: e?.extensions?.code, message: e?.message ?? '', data: false, closeCode: null };
}

function over(transport: Transport, h: AppHarness, op: Operation): Promise<Answer> {
  if (transport === 'http') return overHttp(h, op);
  return transport === 'ws' ? overWebSocket(h.url, h.admin, op) : overSse(h.url, h.admin, op);
}

/** The store's transactions wait for `open` once `hold` was called: the commit of a write is held back. */
function holdCommits(store: Store): { hold(): Promise<void>; open(): void } {
  const original = store.transaction.bind(store);
  let gate: Promise<void> | null = null;
  let release = () => {};
  let reached = () => {};
  store.transaction = async (fn) => {
    if (gate) {
      reached();
      await gate;
    }
    return original(fn);
  };
  return {
    hold: () => {
      gate = new Promise<void>((r) => (release = r));
      return new Promise<void>((r) => (reached = r));
    },
    open: () => {
      gate = null;
      release();
    },
  };
}

/**
 * Sends a refused disconnect while its write is held (`held` resolves once the write waits), checks no
 * answer came while it waited (a full round trip on another request after the write was reached), then
 * lets the write go: once answered, its row is there.
 */
async function answeredAfterItsRow(
  h: AppHarness,
  transport: Transport,
  id: string,
  hold: () => Promise<{ held: Promise<void>; open(): Promise<void> }>,
): Promise<void> {
  await h.settle();
  const before = await h.app.store.audit.count({});
  const held = await hold();
  let answered = false;
  const answer = over(transport, h, { query: DISCONNECT, variables: { id } }).then((a) => {
    answered = true;
    return a;
  });
  try {
    await held.held;
    // The write waits: an answer sent without waiting for it would arrive meanwhile.
    const probe = await h.gql('{ onlineSessions(first: 1) { totalCount } }');
    assert.equal(probe.status, 200, probe.text);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, `over ${transport}: answered before its audit row was committed`);
  } finally {
    await held.open();
  }
  const a = await answer;
  assert.equal(a.code, 'SESSION_NOT_FOUND', `over ${transport}: ${a.message}`);
  assert.equal(await h.app.store.audit.count({}), before + 1, `over ${transport}: the row is there once answered`);
  const rows = (await h.app.store.audit.list({ first: 1, filter: { targetSessionId: id } })).rows;
  assert.equal(rows[0]?.errorCode, 'SESSION_NOT_FOUND', `over ${transport}: the refusal's own row`);
}

for (const store of await bothStores()) {
  describe(
    `a refused disconnect is answered after its audit row is committed (${store.name})`,
    { skip: store.skip },
    () => {
      let db: TestDatabase;
      let h: AppHarness;
      let commits: ReturnType<typeof holdCommits>;
      before(async () => {
        db = await store.open();
        h = await startApp({ adapters: [new FakeAdapter({ id: 'gw-audit-order' })], databaseUrl: db.url });
        commits = holdCommits(h.app.store);
      });
      after(async () => {
        commits?.open();
        await h?.close();
        await db?.drop();
      });

      for (const transport of TRANSPORTS) {
        test(`over ${transport}, its transaction held back`, () =>
          answeredAfterItsRow(h, transport, `sess_held_${transport}`, async () => ({
            held: commits.hold(),
            open: async () => commits.open(),
          })));
      }

      if (store.name === 'PostgreSQL') {
        for (const transport of TRANSPORTS) {
          test(`over ${transport}, the audit table locked by another connection`, async () => {
            const client = new pg.Client({ connectionString: db.url });
            await client.connect();
            try {
              await answeredAfterItsRow(h, transport, `sess_locked_${transport}`, async () => {
                // SHARE conflicts with the insert's ROW EXCLUSIVE: the row waits for this transaction.
                await client.query('begin');
                await client.query('lock table audit_events in share mode');
                return {
                  held: waitFor(
                    async () =>
                      (
                        await client.query<{ n: string }>(
                          `select count(*) as n from pg_locks where relation = 'audit_events'::regclass and not granted`,
                        )
                      ).rows[0]!.n !== '0',
                    10_000,
                    'the audit insert waiting for the lock',
                  ).then(() => undefined),
                  open: async () => void (await client.query('commit')),
                };
              });
            } finally {
              await client.end();
            }
          });
        }
      }
    },
  );
}
