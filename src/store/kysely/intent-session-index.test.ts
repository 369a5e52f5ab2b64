/**
 * The migration that drops `disconnect_intents_session_idx`, on a database that already has intents:
 * they are kept, and intents by session are still found through an index (the one-pending index),
 * on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { DisconnectIntentTable } from './database.js';
import { openStore, type KyselyStore } from './kysely-store.js';
import { onBothStores, seedBefore } from './upgrade.test-support.js';

const DROP = '202612071100-intent-session-index';
const T0 = 1_767_225_600_000;
const SESSION = 'sess_aaaaaaaaaaaa';

function intent(id: string, sessionId: string, status: string): DisconnectIntentTable {
  return {
    id,
    session_id: sessionId,
    gateway_id: 'gw-a',
    user_name: 'a',
    created_at: T0,
    actor_token_id: null,
    actor_name: 'ops',
    actor_ip: null,
    actor_user_agent: null,
    actor_request_id: null,
    reason: null,
    message: null,
    mode: 'kill',
    block_seconds: null,
    status,
    unconfirmed_at: null,
    settled_at: status === 'PENDING' ? null : T0 + 1,
    audit_event_id: `aud_${id}`,
    settled_audit_event_id: status === 'PENDING' ? null : `aud_s_${id}`,
  };
}

/** Migrates `url` up to, not including, the drop, and writes intents: one session's (two settled, one pending), others' pending. */
async function seedBeforeDrop(url: string): Promise<void> {
  await seedBefore(url, DROP, async (db, name) => {
    await db
      .insertInto('disconnect_intents')
      .values([
        intent('din_1', SESSION, 'DONE'),
        intent('din_2', SESSION, 'FAILED'),
        intent('din_3', SESSION, 'PENDING'),
        intent('din_4', 'sess_bbbbbbbbbbbb', 'DONE'),
      ])
      .execute();
    // Other sessions' pending intents, so that only the session's own index search is short.
    await db
      .insertInto('disconnect_intents')
      .values(
        Array.from({ length: 300 }, (_, i) => intent(`din_p${i}`, `sess_p${String(i).padStart(11, '0')}`, 'PENDING')),
      )
      .execute();
    if (name === 'postgres') await sql`analyze disconnect_intents`.execute(db);
  });
}

/** The plan of the repository's look-ups of a session's pending intent, one text per line. */
async function planOfPendingBySession(store: KyselyStore): Promise<string> {
  const one = store.db
    .selectFrom('disconnect_intents')
    .selectAll()
    .where('session_id', '=', SESSION)
    .where('status', '=', 'PENDING')
    .compile();
  const many = store.db
    .selectFrom('disconnect_intents')
    .selectAll()
    .where('session_id', 'in', [SESSION, 'sess_bbbbbbbbbbbb'])
    .where('status', '=', 'PENDING')
    .compile();
  const explain = store.dialect === 'postgres' ? 'explain' : 'explain query plan';
  // A table this small is read whole by PostgreSQL's planner unless told not to: the question is
  // whether an index can answer, not whether it pays at four rows.
  return store.db.transaction().execute(async (trx) => {
    if (store.dialect === 'postgres') await sql`set local enable_seqscan = off`.execute(trx);
    const lines: string[] = [];
    for (const q of [one, many]) {
      const { rows } = await trx.executeQuery<Record<string, unknown>>({
        ...q,
        sql: `${explain} ${q.sql}`,
      });
      lines.push(rows.map((r) => String(r['QUERY PLAN'] ?? r.detail)).join(' / '));
    }
    return lines.join('\n');
  });
}

async function checkUpgrade(url: string): Promise<void> {
  await seedBeforeDrop(url);
  const store = await openStore(url);
  try {
    const indexes =
      store.dialect === 'postgres'
        ? await sql<{
            name: string;
          }>`select indexname as name from pg_indexes where tablename = 'disconnect_intents'`.execute(store.db)
        : await sql<{
            name: string;
          }>`select name from sqlite_master where type = 'index' and tbl_name = 'disconnect_intents'`.execute(store.db);
    const names = indexes.rows.map((r) => r.name);
    assert.ok(!names.includes('disconnect_intents_session_idx'), names.join(', '));
    assert.ok(names.includes('disconnect_intents_one_pending_idx'), names.join(', '));

    // The intents are all there, and the session's pending one is found.
    assert.equal((await store.intents.findById('din_1'))?.status, 'DONE');
    assert.equal((await store.intents.findPending(SESSION))?.id, 'din_3');
    assert.deepEqual(
      (await store.intents.listPendingBySessions([SESSION, 'sess_bbbbbbbbbbbb'])).map((i) => i.id),
      ['din_3'],
    );
    const plan = await planOfPendingBySession(store);
    for (const line of plan.split('\n')) assert.match(line, /disconnect_intents_one_pending_idx/, plan);
  } finally {
    await store.close();
  }
}

onBothStores(
  'intent-session-index migration on a database with intents',
  'intents kept, a session’s pending one found through the one-pending index',
  checkUpgrade,
);
