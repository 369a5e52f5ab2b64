import { sql, type Compilable, type Kysely, type OnConflictBuilder, type Selectable } from 'kysely';
import type { AuditEvent } from '../../domain/audit.js';
import type { DisconnectIntent, IntentStatus } from '../../domain/disconnect-intent.js';
import type { DisconnectMode, Session } from '../../domain/session.js';
import type { DisconnectIntentRepository, IntentSettlement, SessionEnd } from '../store.js';
import { KyselyAuditRepository, toAuditRow } from './audit-repository.js';
import type { Database, DialectName, DisconnectIntentTable, SessionTable } from './database.js';
import { BulkInsert } from './bulk-insert.js';
import { toSession, type Sessions } from './session-columns.js';
import { endSet, markEndedValues, endable, KyselySessionRepository, type EndValues } from './session-repository.js';
import { Precompiled } from './precompiled.js';
import { compare, statements } from './statements.js';

/** Ids per `in (...)` list: well within both databases' parameter limits. */
const IDS_PER_STATEMENT = 1_000;
/** Rows per `settleMany` statement (on PostgreSQL its CASE is looked through row by row, so its cost grows with the square). */
const SETTLED_PER_STATEMENT = 500;
/** The ON CONFLICT target of `insertIfNoPending`: the partial unique index, one PENDING intent per session. */
const onePendingPerSession = (oc: OnConflictBuilder<Database, 'disconnect_intents'>) =>
  oc
    .column('session_id')
    .where(sql<boolean>`status = 'PENDING'`)
    .doNothing();

/** `insertIfNoPending`'s statement: one per disconnect. */
const insertOne = new Precompiled((db, row: DisconnectIntentTable) =>
  db.insertInto('disconnect_intents').values(row).onConflict(onePendingPerSession),
);

/** `insertManyIfNoPending`'s multi-row insert (a bulk's chunk): its text compiled once per row count. */
const INSERT_MANY = new BulkInsert((db, rows: DisconnectIntentTable[]) =>
  db.insertInto('disconnect_intents').values(rows).onConflict(onePendingPerSession).returning('id'),
);

/**
 * SQLite: `settleMany` as one statement text for any number of intents, each one's audit row id
 * joined from a JSON array of `[id, settledAuditEventId]` (UPDATE … FROM json_each) instead of
 * picked by a CASE: compiled and prepared once, where the CASE text was built by Kysely on every
 * call and prepared anew for each new count.
 */
const SETTLE_MANY_SQLITE = new Precompiled(
  (db, v: { settled: string; status: IntentStatus; settledAt: number }) =>
    db
      .updateTable('disconnect_intents')
      .from(
        sql<{
          e_id: string;
          e_audit: string;
        }>`(select value ->> 0 as e_id, value ->> 1 as e_audit from json_each(${v.settled}))`.as('e'),
      )
      .set({ status: v.status, settled_at: v.settledAt, settled_audit_event_id: sql.ref<string>('e.e_audit') })
      .whereRef('disconnect_intents.id', '=', 'e.e_id')
      .where('status', '=', 'PENDING')
      .returning('disconnect_intents.id') as unknown as Compilable<{ id: string }>,
);

/** SQLite: `listPendingBySessions` as one text for any number of sessions, their ids read from a JSON array (as `settleMany`). */
const PENDING_BY_SESSIONS_SQLITE = new Precompiled((db, v: { ids: string }) =>
  db
    .selectFrom('disconnect_intents')
    .selectAll()
    .where('session_id', 'in', sql<string>`(select value from json_each(${v.ids}))`)
    .where('status', '=', 'PENDING'),
);

/** `recordIfNoPending`'s values: the intent's columns prefixed `i_`, its audit row's `a_` (one flat, named set). */
type RecordValues = Record<string, unknown>;

/**
 * `recordIfNoPending` on PostgreSQL, one statement: the intent's insert in a data-modifying WITH, and
 * the audit row inserted from its RETURNING, so only when the intent was. Column order is the rows'
 * (toRow, toAuditRow: the same keys every call).
 */
const insertRecorded = new Precompiled((db, v: RecordValues) => {
  const audit = prefixed(v, 'a_');
  return db
    .with('intent', (q) =>
      q
        .insertInto('disconnect_intents')
        .values(prefixedValues(v, 'i_') as unknown as DisconnectIntentTable)
        .onConflict(onePendingPerSession)
        .returning('id'),
    )
    .insertInto('audit_events')
    .columns(audit.map(([k]) => k) as never)
    .expression((eb) => eb.selectFrom('intent').select(audit.map(([k, value]) => eb.val(value).as(k))));
});

/** The `prefix`ed values of a flat set, without their prefix (in the set's order). */
function prefixed(v: Record<string, unknown>, prefix: string): (readonly [string, unknown])[] {
  return Object.entries(v)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, value]) => [k.slice(prefix.length), value] as const);
}

/** `prefixed` as an object. */
function prefixedValues(v: Record<string, unknown>, prefix: string): Record<string, unknown> {
  return Object.fromEntries(prefixed(v, prefix));
}

/**
 * `settleDone` on PostgreSQL, one statement per shape (with the daemon's final counters or not): the
 * intent's conditional UPDATE in a data-modifying WITH, and the SUCCESS row's insert and the session's
 * end (`markEnded` with claimEcho: the same SET and WHERE) each only when it returned the intent. The
 * result: no row when the intent was not PENDING; one row with the settled id and the ended session's
 * columns (null when the session had ended otherwise).
 */
const SETTLE_DONE = new Map<boolean, Precompiled<Record<string, unknown>, SessionTable & { settled_id: string }>>();
function settleDoneStatement(finalStats: boolean) {
  let statement = SETTLE_DONE.get(finalStats);
  if (!statement) {
    statement = new Precompiled((db, v: Record<string, unknown>) => {
      const audit = prefixed(v, 'a_');
      return db
        .with('settled', (q) =>
          q
            .updateTable('disconnect_intents')
            .set({ status: 'DONE', settled_at: v.settledAt as number, settled_audit_event_id: v.a_id as string })
            .where('id', '=', v.id as string)
            .where('status', '=', 'PENDING')
            .returning('id'),
        )
        .with('audit', (q) =>
          q
            .insertInto('audit_events')
            .columns(audit.map(([k]) => k) as never)
            .expression((eb) => eb.selectFrom('settled').select(audit.map(([k, value]) => eb.val(value).as(k)))),
        )
        .with('ended', (q) =>
          q
            .updateTable('sessions')
            .set((eb) =>
              endSet(eb as unknown as Sessions, prefixedValues(v, 's_') as unknown as EndValues, true, finalStats),
            )
            .where('id', '=', v.s_id as string)
            .where((eb) => endable(eb as unknown as Sessions, true))
            .where((eb) => eb.exists(eb.selectFrom('settled').select('settled.id')))
            .returningAll(),
        )
        .selectFrom('settled')
        .leftJoin('ended', (j) => j.onTrue())
        .selectAll('ended')
        .select('settled.id as settled_id');
    }) as unknown as Precompiled<Record<string, unknown>, SessionTable & { settled_id: string }>;
    SETTLE_DONE.set(finalStats, statement);
  }
  return statement;
}

/** `recordIfNoPending`'s values for its one statement. */
function recordValues(intent: DisconnectIntent, pendingRow: AuditEvent): RecordValues {
  const v: RecordValues = {};
  for (const [k, value] of Object.entries(toRow(intent))) v[`i_${k}`] = value;
  for (const [k, value] of Object.entries(toAuditRow(pendingRow))) v[`a_${k}`] = value;
  return v;
}

/** Disconnect intents over one Kysely instance or transaction. */
export class KyselyIntentRepository implements DisconnectIntentRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /**
   * ON CONFLICT against the partial unique index (one PENDING per session): a concurrent insert for
   * the same session waits for the other transaction, then inserts nothing.
   */
  async insertIfNoPending(intent: DisconnectIntent): Promise<boolean> {
    const result = await insertOne.execute(this.db, toRow(intent));
    return Number(result.numAffectedRows ?? 0n) > 0;
  }

  /**
   * PostgreSQL: one statement (`insertRecorded`), all or nothing by itself: outside a transaction one
   * round trip where BEGIN, two inserts and COMMIT were four, and no window between the two rows
   * (a crash or error leaves both or neither, as the transaction did). SQLite: the two inserts in
   * the caller's transaction, or in one of their own.
   */
  async recordIfNoPending(intent: DisconnectIntent, pendingRow: AuditEvent): Promise<boolean> {
    if (this.dialect === 'postgres') {
      const result = await insertRecorded.execute(this.db, recordValues(intent, pendingRow));
      return Number(result.numAffectedRows ?? 0n) > 0;
    }
    const both = async (db: Kysely<Database>) => {
      if (!(await new KyselyIntentRepository(db, this.dialect).insertIfNoPending(intent))) return false;
      await new KyselyAuditRepository(db).append(pendingRow);
      return true;
    };
    return this.db.isTransaction ? both(this.db) : this.db.transaction().execute(both);
  }

  /**
   * Multi-row `insertIfNoPending`: RETURNING names the rows this statement wrote (one whose session
   * has a PENDING intent is skipped and not returned). Sorted by session, so concurrent callers take
   * the index's locks in one order and wait for each other rather than deadlock.
   */
  async insertManyIfNoPending(intents: DisconnectIntent[]): Promise<Set<string>> {
    const inserted = new Set<string>();
    const rows = intents.map(toRow).sort((a, b) => compare(a.session_id, b.session_id));
    for (const part of statements(rows, Object.keys(rows[0] ?? {}).length)) {
      for (const r of await INSERT_MANY.execute(this.db, part)) inserted.add(r.id);
    }
    return inserted;
  }

  async findById(id: string): Promise<DisconnectIntent | null> {
    const row = await this.db.selectFrom('disconnect_intents').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toIntent(row) : null;
  }

  async findPending(sessionId: string): Promise<DisconnectIntent | null> {
    const row = await this.db
      .selectFrom('disconnect_intents')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    return row ? toIntent(row) : null;
  }

  async listPendingBySessions(sessionIds: string[]): Promise<DisconnectIntent[]> {
    const out: DisconnectIntent[] = [];
    if (this.dialect === 'sqlite') {
      for (let i = 0; i < sessionIds.length; i += IDS_PER_STATEMENT) {
        const ids = JSON.stringify(sessionIds.slice(i, i + IDS_PER_STATEMENT));
        for (const r of (await PENDING_BY_SESSIONS_SQLITE.execute(this.db, { ids })).rows) out.push(toIntent(r));
      }
      return out;
    }
    for (let i = 0; i < sessionIds.length; i += IDS_PER_STATEMENT) {
      const rows = await this.db
        .selectFrom('disconnect_intents')
        .selectAll()
        .where('session_id', 'in', sessionIds.slice(i, i + IDS_PER_STATEMENT))
        .where('status', '=', 'PENDING')
        .execute();
      for (const r of rows) out.push(toIntent(r));
    }
    return out;
  }

  async listPendingBefore(createdBefore: number, limit: number): Promise<DisconnectIntent[]> {
    const rows = await this.db
      .selectFrom('disconnect_intents')
      .selectAll()
      .where('status', '=', 'PENDING')
      .where('created_at', '<', createdBefore)
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toIntent);
  }

  /** One conditional UPDATE: concurrent settlers race for the row, and only the first sees it change. */
  async settle(id: string, s: IntentSettlement): Promise<boolean> {
    const result = await this.db
      .updateTable('disconnect_intents')
      .set({ status: s.status, settled_at: s.settledAt, settled_audit_event_id: s.settledAuditEventId })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * `settle`'s conditional UPDATE for many ids, each intent's audit row id picked by a CASE on its id:
   * RETURNING names exactly the intents this statement moved from PENDING (concurrent settlers of
   * one intent wait for its row lock, and only the first sees it PENDING).
   */
  async settleMany(
    intents: { id: string; settledAuditEventId: string }[],
    s: Omit<IntentSettlement, 'settledAuditEventId'>,
  ): Promise<Set<string>> {
    const settled = new Set<string>();
    const sorted = [...intents].sort((a, b) => compare(a.id, b.id));
    if (this.dialect === 'sqlite') {
      for (const part of statements(sorted, 1, SETTLED_PER_STATEMENT)) {
        const json = JSON.stringify(part.map((i) => [i.id, i.settledAuditEventId]));
        const { rows } = await SETTLE_MANY_SQLITE.execute(this.db, {
          settled: json,
          status: s.status,
          settledAt: s.settledAt,
        });
        for (const r of rows) settled.add(r.id);
      }
      return settled;
    }
    for (const part of statements(sorted, 3, SETTLED_PER_STATEMENT)) {
      const auditEventIds = sql.join(
        part.map((i) => sql`when ${i.id} then ${i.settledAuditEventId}`),
        sql` `,
      );
      const rows = await this.db
        .updateTable('disconnect_intents')
        .set({
          status: s.status,
          settled_at: s.settledAt,
          settled_audit_event_id: sql<string>`case id ${auditEventIds} end`,
        })
        .where(
          'id',
          'in',
          part.map((i) => i.id),
        )
        .where('status', '=', 'PENDING')
        .returning('id')
        .execute();
      for (const r of rows) settled.add(r.id);
    }
    return settled;
  }

  /**
   * PostgreSQL: one statement (`settleDoneStatement`), all or nothing by itself: the intent's row is
   * locked from that statement to the commit, where the three statements held it from the first
   * (the other replica's sync settling the same intent from the daemon's report waits for it). No
   * window opens: the statement writes all three or nothing. SQLite: the three statements, in the
   * caller's transaction or in one of their own.
   */
  async settleDone(
    id: string,
    settledAt: number,
    sessionId: string,
    end: SessionEnd,
    successRow: AuditEvent,
  ): Promise<{ ended: Session | null } | null> {
    if (this.dialect === 'postgres') {
      const v: Record<string, unknown> = { id, settledAt };
      for (const [k, value] of Object.entries(markEndedValues(sessionId, end))) v[`s_${k}`] = value;
      for (const [k, value] of Object.entries(toAuditRow(successRow))) v[`a_${k}`] = value;
      const row = (await settleDoneStatement(!!end.finalStats).execute(this.db, v)).rows[0];
      if (!row) return null;
      const { settled_id: _, ...session } = row;
      return { ended: session.id === null ? null : toSession(session) };
    }
    const all = async (db: Kysely<Database>) => {
      const settlement = { status: 'DONE' as const, settledAt, settledAuditEventId: successRow.id };
      if (!(await new KyselyIntentRepository(db, this.dialect).settle(id, settlement))) return null;
      const ended = await new KyselySessionRepository(db, this.dialect).markEnded(sessionId, end, { claimEcho: true });
      await new KyselyAuditRepository(db).append(successRow);
      return { ended };
    };
    return this.db.isTransaction ? all(this.db) : this.db.transaction().execute(all);
  }

  async markUnconfirmed(id: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('disconnect_intents')
      .set({ unconfirmed_at: at })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

function toRow(i: DisconnectIntent): DisconnectIntentTable {
  return {
    id: i.id,
    session_id: i.sessionId,
    gateway_id: i.gatewayId,
    user_name: i.userName,
    created_at: i.createdAt,
    actor_token_id: i.actorTokenId,
    actor_name: i.actorName,
    actor_ip: i.actorIp,
    actor_user_agent: i.actorUserAgent,
    actor_request_id: i.actorRequestId,
    reason: i.reason,
    message: i.message,
    mode: i.mode,
    block_seconds: i.blockSeconds,
    status: i.status,
    unconfirmed_at: i.unconfirmedAt,
    settled_at: i.settledAt,
    audit_event_id: i.auditEventId,
    settled_audit_event_id: i.settledAuditEventId,
  };
}

function toIntent(r: Selectable<DisconnectIntentTable>): DisconnectIntent {
  return {
    id: r.id,
    sessionId: r.session_id,
    gatewayId: r.gateway_id,
    userName: r.user_name,
    createdAt: r.created_at,
    actorTokenId: r.actor_token_id,
    actorName: r.actor_name,
    actorIp: r.actor_ip,
    actorUserAgent: r.actor_user_agent,
    actorRequestId: r.actor_request_id,
    reason: r.reason,
    message: r.message,
    mode: r.mode as DisconnectMode,
    blockSeconds: r.block_seconds,
    status: r.status as IntentStatus,
    unconfirmedAt: r.unconfirmed_at,
    settledAt: r.settled_at,
    auditEventId: r.audit_event_id,
    settledAuditEventId: r.settled_audit_event_id,
  };
}
