/**
 * Law 1 on every transport and store: a mutation is answered only once its audit row is committed. An
 * operator who got the answer of a refused disconnect (SESSION_NOT_FOUND) and then reads the audit log
 * finds its row. The commit is held back here, the answer must wait for it: by a hook on the store's
 * transactions (both stores), and on PostgreSQL also by a lock on the audit table held by the test.
 * A successful disconnect, on a real gateway (the OpenVPN adapter on a management stand-in), is held
 * twice: its intent and PENDING row (the kill must wait for their commit), then its settlement (the
 * answer must wait for the SUCCESS row and the session's end).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { bothStores, type TestDatabase } from './support/postgres.js';
import { waitFor } from './support/wait.js';
import { overSse, overWebSocket, type Answer, type Operation } from './support/graphql-transports.js';
import { onlineIdOf } from './support/api-client.js';
import { ManagementStandin } from '../bench/lib/management-standin.js';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import type { Store } from '../src/store/store.js';

const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const TRANSPORTS = ['http', 'ws', 'sse'] as const;
type Transport = (typeof TRANSPORTS)[number];

async function overHttp(h: AppHarness, op: Operation): Promise<Answer> {
  const r = await h.gql(op.query, op.variables);
  const e = (r.json.errors as { message: string; extensions?: { code?: string } }[] | undefined)?.[0];
  const data = Object.values((r.json.data as Record<string, unknown> | null | undefined) ?? {}).some((v) => v != null);
  return { status: r.status, code: e?.extensions?.code, message: e?.message ?? '', data, closeCode: null };
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

/**
 * The disconnect use case's transactions (its group commits: `TransactionBatcher`, told by the call's
 * stack), each held until released, while `holding`; the store's other transactions run.
 */
function holdDisconnectWrites(store: Store): { next(): Promise<() => void>; stop(): void } {
  const original = store.transaction.bind(store);
  let holding = true;
  const arrived: (() => void)[] = [];
  const waiting: ((release: () => void) => void)[] = [];
  const released = new Set<() => void>();
  store.transaction = async (fn) => {
    if (holding && new Error().stack?.includes('TransactionBatcher')) {
      await new Promise<void>((resolve) => {
        const release = () => resolve();
        released.add(release);
        const taker = waiting.shift();
        if (taker) taker(release);
        else arrived.push(release);
      });
    }
    return original(fn);
  };
  return {
    next: () => new Promise((resolve) => (arrived.length > 0 ? resolve(arrived.shift()!) : waiting.push(resolve))),
    stop: () => {
      holding = false;
      for (const release of released) release();
    },
  };
}

/** Resolves once another connection waits for a lock on `table` (PostgreSQL). */
function waitingOn(client: pg.Client, table: string): Promise<void> {
  return waitFor(
    async () =>
      (
        await client.query<{ n: string }>(
          `select count(*) as n from pg_locks where relation = '${table}'::regclass and not granted`,
        )
      ).rows[0]!.n !== '0',
    10_000,
    `a write waiting for the lock on ${table}`,
  ).then(() => undefined);
}

/** No answer came while a write is held: a full round trip of another request, then a little more. */
async function notAnswered(h: AppHarness, answered: () => boolean, what: string): Promise<void> {
  const probe = await h.gql('{ onlineSessions(first: 1) { totalCount } }');
  assert.equal(probe.status, 200, probe.text);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(answered(), false, what);
}

for (const store of await bothStores()) {
  describe(
    `a successful disconnect: the kill after its intent and PENDING row are committed, the answer after its SUCCESS row and end (${store.name})`,
    { skip: store.skip },
    () => {
      const GW = `gw-audit-success-${store.name.toLowerCase()}`;
      const dir = mkdtempSync(join(tmpdir(), 'sb-audit-success-'));
      let db: TestDatabase;
      let standin: ManagementStandin;
      let h: AppHarness;
      let client: pg.Client | null = null;
      let users: string[] = [];
      before(async () => {
        db = await store.open();
        standin = await ManagementStandin.start(join(dir, 'mgmt.sock'));
        // A client per transport, there before the adapter links (its first status lists them).
        users = standin.addClients(TRANSPORTS.length).map((c) => c.commonName);
        const adapter = createAdapter(standin.gatewayConfig({ id: GW, name: 'Audit order' }), silentLogger);
        h = await startApp({ adapters: [adapter], databaseUrl: db.url });
        if (store.name === 'PostgreSQL') {
          client = new pg.Client({ connectionString: db.url });
          await client.connect();
        }
      });
      after(async () => {
        await client?.end();
        await h?.close();
        await standin?.close();
        await db?.drop();
        rmSync(dir, { recursive: true, force: true });
      });

      for (const [i, transport] of TRANSPORTS.entries()) {
        test(`over ${transport}`, async () => {
          const id = await onlineIdOf(h.gql, GW, users[i]!);
          await h.settle();
          const s = h.app.store;
          const kills = standin.kills;
          const writes = holdDisconnectWrites(s);
          let locked = false;
          const lock = async (table: string) => {
            await client!.query('begin');
            locked = true;
            await client!.query(`lock table ${table} in share mode`);
          };
          const unlock = async () => {
            locked = false;
            await client!.query('commit');
          };
          let answered = false;
          try {
            // 1. The intent and its PENDING row, held: on SQLite their group commit; on PostgreSQL (one
            // statement outside any transaction) the intents table, locked by another connection.
            if (client) await lock('disconnect_intents');
            const record = client ? null : writes.next();
            const answer = over(transport, h, { query: DISCONNECT, variables: { id } }).then((a) => {
              answered = true;
              return a;
            });
            if (client) await waitingOn(client, 'disconnect_intents');
            const releaseRecord = record ? await record : unlock;
            await notAnswered(h, () => answered, `over ${transport}: answered before the PENDING row was written`);
            assert.equal(standin.kills, kills, `over ${transport}: the kill was sent before the intent was committed`);
            await releaseRecord();

            // 2. The settlement, held: the kill was sent after the intent and its row were committed.
            const releaseSettlement = await writes.next();
            assert.equal(standin.kills, kills + 1, `over ${transport}: the kill, once the intent is committed`);
            assert.equal((await s.intents.findPending(id))?.sessionId, id, `over ${transport}: the intent is there`);
            const pending = (await s.audit.list({ first: 5, filter: { targetSessionId: id } })).rows;
            assert.deepEqual(
              pending.map((r) => r.outcome),
              ['PENDING'],
              `over ${transport}: the PENDING row is there, nothing else`,
            );
            assert.notEqual(await s.sessions.findOnline(id), null, `over ${transport}: not ended yet`);
            await notAnswered(h, () => answered, `over ${transport}: answered before the settlement was committed`);
            if (client) {
              // PostgreSQL: past the hook, the SUCCESS row's insert waits for the audit table's lock.
              await lock('audit_events');
              releaseSettlement();
              await waitingOn(client, 'audit_events');
              await notAnswered(h, () => answered, `over ${transport}: answered before the SUCCESS row was committed`);
              await unlock();
            } else releaseSettlement();

            // 3. Answered: the SUCCESS row and the end are there.
            const a = await answer;
            assert.deepEqual([a.code, a.data], [undefined, true], `over ${transport}: ${a.message}`);
            const rows = (await s.audit.list({ first: 5, filter: { targetSessionId: id } })).rows;
            assert.deepEqual(rows.map((r) => r.outcome).sort(), ['PENDING', 'SUCCESS'], `over ${transport}: its rows`);
            const ended = await s.sessions.findById(id);
            assert.equal(ended?.endCause, 'ADMIN_DISCONNECT', `over ${transport}: the session ended as the operator's`);
          } finally {
            writes.stop();
            if (locked) await client!.query('rollback');
          }
        });
      }
    },
  );
}
