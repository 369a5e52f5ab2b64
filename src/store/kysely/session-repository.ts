import {
  sql,
  type Compilable,
  type Expression,
  type Kysely,
  type QueryCreator,
  type Selectable,
  type SqlBool,
} from 'kysely';
import { ipOf, type Session, type SessionReport, type Transport } from '../../domain/session.js';
import type {
  Keyset,
  Page,
  SessionEnd,
  SessionFilter,
  SessionHistoryFilter,
  SessionOrder,
  SessionRepository,
  SessionSortField,
  SessionStats,
} from '../store.js';
import type { Gateway } from '../../domain/gateway.js';
import type { Database, DialectName, GatewayTable, SessionTable } from './database.js';
import { toGateway } from './gateway-repository.js';
import { BulkInsert } from './bulk-insert.js';
import { pageLimit, toPage } from './page.js';
import { addressMatching, toRow, toSession, type Sessions } from './session-columns.js';
import { countHistory, listHistory } from './session-history.js';
import { Precompiled } from './precompiled.js';
import { compare, statements } from './statements.js';

/** Rows per `markEndedWithStats` statement (on PostgreSQL its CASEs are looked through row by row, so their cost grows with the square). */
const ENDED_WITH_STATS_PER_STATEMENT = 500;

/** `findOnline`: every disconnect looks its session up first. */
const findOnlineById = new Precompiled((db, v: { id: string }) =>
  db.selectFrom('sessions').selectAll().where('id', '=', v.id).where('ended_at', 'is', null),
);

/**
 * SQLite: `findByRefs` (sync's look-up of a run of reports) as one text for any number of refs, read
 * from a JSON array (`in (select value from json_each(?))`, the same index search as a list): compiled
 * and prepared once, where a list was built by Kysely on every call and prepared for each new length.
 */
const findByRefsSqlite = new Precompiled((db, v: { gatewayId: string; refs: string }) =>
  db
    .selectFrom('sessions')
    .selectAll()
    .where('gateway_id', '=', v.gatewayId)
    .where('ref', 'in', sql<string>`(select value from json_each(${v.refs}))`),
);

/** The values of one `markEnded`; the counters only with final stats. */
export interface EndValues {
  id: string;
  endedAt: number;
  cause: SessionEnd['cause'];
  endedByTokenId: string | null;
  endedByName: string | null;
  endReason: string | null;
  bytesReceived?: number;
  bytesSent?: number;
  lastSeenAt?: number;
}

/** `markEnded`'s SET (also the one-statement settlement's, intent-repository.ts). */
export function endSet(eb: Sessions, v: EndValues, claimEcho: boolean, finalStats: boolean) {
  return {
    ended_at: claimEcho ? eb.fn.coalesce('ended_at', eb.val(v.endedAt)) : v.endedAt,
    ...endColumns(v),
    ...(finalStats ? { bytes_received: v.bytesReceived!, bytes_sent: v.bytesSent!, last_seen_at: v.lastSeenAt! } : {}),
  };
}

/** The values of `markEnded(id, end)`'s statement. */
export function markEndedValues(id: string, end: SessionEnd): EndValues {
  const { finalStats } = end;
  return {
    id,
    endedAt: end.endedAt,
    ...endValues(end),
    ...(finalStats
      ? { bytesReceived: finalStats.bytesReceived, bytesSent: finalStats.bytesSent, lastSeenAt: finalStats.lastSeenAt }
      : {}),
  };
}

/** `markEnded`'s statement, per shape (claiming an echo or not, with final counters or not). */
const MARK_ENDED = new Map<string, Precompiled<EndValues, SessionTable>>();
function markEndedStatement(claimEcho: boolean, finalStats: boolean): Precompiled<EndValues, SessionTable> {
  const key = `${claimEcho}:${finalStats}`;
  let statement = MARK_ENDED.get(key);
  if (!statement) {
    statement = new Precompiled((db, v: EndValues) =>
      db
        .updateTable('sessions')
        .set((eb) => endSet(eb, v, claimEcho, finalStats))
        .where('id', '=', v.id)
        .where((eb) => endable(eb, claimEcho))
        .returningAll(),
    );
    MARK_ENDED.set(key, statement);
  }
  return statement;
}

/** The values of `markEndedWithStats`'s SQLite statement: the rows' own as one JSON array of `[id, endedAt, bytesReceived, bytesSent, lastSeenAt]`. */
interface EndsWithStats {
  ends: string;
  cause: SessionEnd['cause'];
  endedByTokenId: string | null;
  endedByName: string | null;
  endReason: string | null;
}

/**
 * SQLite: `markEndedWithStats` as one statement text for any number of rows, each row's time and
 * counters joined from a JSON array on its id (UPDATE … FROM json_each) instead of picked by CASEs.
 * The CASE texts were built by Kysely on every call (a node per row and column) and prepared anew
 * for each new row count (a run of echoes has any length up to the management link's depth); this
 * text is compiled and prepared once. Per claiming an echo or not.
 */
const MARK_ENDED_WITH_STATS_SQLITE = new Map<boolean, Precompiled<EndsWithStats, SessionTable>>();
function markEndedWithStatsSqlite(claimEcho: boolean): Precompiled<EndsWithStats, SessionTable> {
  let statement = MARK_ENDED_WITH_STATS_SQLITE.get(claimEcho);
  if (!statement) {
    statement = new Precompiled((db, v: EndsWithStats) => {
      const endedAt = sql.ref<number>('e.e_ended_at');
      return db
        .updateTable('sessions')
        .from(
          sql<{ e_id: string; e_ended_at: number; e_received: number; e_sent: number; e_seen: number }>`(select
            value ->> 0 as e_id, cast(value ->> 1 as integer) as e_ended_at, cast(value ->> 2 as integer) as e_received,
            cast(value ->> 3 as integer) as e_sent, cast(value ->> 4 as integer) as e_seen from json_each(${v.ends}))`.as(
            'e',
          ),
        )
        .set((eb) => ({
          ended_at: claimEcho ? eb.fn.coalesce('sessions.ended_at', endedAt) : endedAt,
          ...endColumns(v),
          bytes_received: sql.ref<number>('e.e_received'),
          bytes_sent: sql.ref<number>('e.e_sent'),
          last_seen_at: sql.ref<number>('e.e_seen'),
        }))
        .whereRef('sessions.id', '=', 'e.e_id')
        .where((eb) => endable(eb as unknown as Sessions, claimEcho))
        .returningAll() as unknown as Compilable<SessionTable>;
    });
    MARK_ENDED_WITH_STATS_SQLITE.set(claimEcho, statement);
  }
  return statement;
}

/**
 * `updateStatsMany`'s PostgreSQL statement; its text is kept per row count (BulkInsert): a periodic
 * snapshot's 1,000 rows were 4,000 values for Kysely to wrap and compile on every call.
 * Its rows are locked first, in id order (`locked`: ORDER BY is applied before the locking
 * clause), as every multi-row write to `sessions` locks them: the join alone locked them in its
 * plan's order (the gateway index's, or the VALUES'), and another write taking two of them in the
 * other order (a bulk end, an echo's end) deadlocked with it. The gateway is bound twice (`tail`),
 * so the update itself still reads that gateway's rows by index.
 */
const STATS_MANY = new BulkInsert((db, rows: { id: string; r: number; s: number; l: number }[], [gatewayId]) => {
  const values = sql.join(
    rows.map(
      (v) => sql`(cast(${v.id} as text), cast(${v.r} as bigint), cast(${v.s} as bigint), cast(${v.l} as bigint))`,
    ),
  );
  const statement = sql`with v (id, r, s, l) as (values ${values}),
    locked as materialized (select sessions.id from sessions join v on sessions.id = v.id
      where sessions.gateway_id = ${gatewayId} and sessions.ended_at is null
      and (sessions.bytes_received, sessions.bytes_sent, sessions.last_seen_at) is distinct from (v.r, v.s, v.l)
      order by sessions.id collate "C" for no key update of sessions)
    update sessions set bytes_received = v.r, bytes_sent = v.s, last_seen_at = v.l
    from v where sessions.id = v.id and sessions.gateway_id = ${gatewayId} and sessions.id in (select id from locked)`;
  return { compile: () => statement.compile(db) };
});

/** The multi-row insert of `insertManyIfAbsent` (its text compiled once per row count). */
const INSERT_IF_ABSENT = new BulkInsert((db, rows: SessionTable[]) =>
  db
    .insertInto('sessions')
    .values(rows)
    .onConflict((oc) => oc.columns(['gateway_id', 'ref']).doNothing())
    .returning('id'),
);

/**
 * Sessions over one Kysely instance or transaction. Online means `ended_at IS NULL`; every online
 * query carries that condition, so each can use the partial indexes of the initial migration.
 */
export class KyselySessionRepository implements SessionRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /**
   * ON CONFLICT DO NOTHING on (gateway_id, ref): a concurrent insert of the same ref waits for the
   * other transaction and then inserts nothing, so exactly one caller sees a row inserted.
   */
  async insertIfAbsent(session: Session): Promise<boolean> {
    return (await this.insertOne(session)) || ((await this.retireEndedRef(session)) && (await this.insertOne(session)));
  }

  private async insertOne(session: Session): Promise<boolean> {
    const result = await this.db
      .insertInto('sessions')
      .values(toRow(session))
      .onConflict((oc) => oc.columns(['gateway_id', 'ref']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /**
   * A daemon restarted within the same second hands out the same refs again (`<start, s>:<Client
   * ID>`), and (gateway, ref) is unique over every row, ended ones too. An ended row gives its ref
   * away to a later connection: one that connected after it did, or another user's. A late report
   * of the ended connection itself (same user, same start) does not revive it. The ended row keeps
   * its history under `<ref>~<id>`; refs of ended sessions are never used again.
   */
  private async retireEndedRef(session: Session): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ ref: sql<string>`ref || '~' || id` })
      .where('gateway_id', '=', session.gatewayId)
      .where('ref', '=', session.ref)
      .where('ended_at', 'is not', null)
      .where((eb) => eb.or([eb('connected_at', '<', session.connectedAt), eb('user_name', '<>', session.userName)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async findById(id: string): Promise<Session | null> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toSession(row) : null;
  }

  async findOnline(id: string): Promise<Session | null> {
    const row = (await findOnlineById.execute(this.db, { id })).rows[0];
    return row ? toSession(row) : null;
  }

  async findByRef(gatewayId: string, ref: string): Promise<Session | null> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('gateway_id', '=', gatewayId)
      .where('ref', '=', ref)
      .executeTakeFirst();
    return row ? toSession(row) : null;
  }

  async findByRefs(gatewayId: string, refs: readonly string[]): Promise<Session[]> {
    const found: Session[] = [];
    if (this.dialect === 'sqlite') {
      for (const part of statements([...new Set(refs)], 1)) {
        const { rows } = await findByRefsSqlite.execute(this.db, { gatewayId, refs: JSON.stringify(part) });
        for (const r of rows) found.push(toSession(r));
      }
      return found;
    }
    for (const part of statements([...new Set(refs)], 1)) {
      const rows = await this.db
        .selectFrom('sessions')
        .selectAll()
        .where('gateway_id', '=', gatewayId)
        .where('ref', 'in', part)
        .execute();
      for (const r of rows) found.push(toSession(r));
    }
    return found;
  }

  async listOnline(args: { first: number; after?: Keyset | null; filter?: SessionFilter }): Promise<Page<Session>> {
    const rows = await onlinePage(this.db, args).execute();
    return toPage(rows.map(toSession), args.first);
  }

  /** `listOnline` with a LEFT JOIN on the page's rows (no more rows read than the page). */
  async listOnlineWithGateways(args: {
    first: number;
    after?: Keyset | null;
    filter?: SessionFilter;
  }): Promise<Page<Session> & { gateways: Gateway[] | null }> {
    const rows = await this.db
      .with('page', (db) => onlinePage(db, args))
      .selectFrom('page')
      .leftJoin('gateways as g', 'g.id', 'page.gateway_id')
      .selectAll('page')
      .select((eb) => GATEWAY_COLUMNS.map((c) => eb.ref(`g.${c}`).as(`g_${c}`)))
      .orderBy('page.connected_at', 'desc')
      .orderBy('page.id', 'desc')
      .execute();
    const gateways = new Map<string, Gateway>();
    for (const r of rows) {
      const g = r as unknown as Record<string, unknown>;
      if (g.g_id === null || gateways.has(r.gateway_id)) continue;
      const row = Object.fromEntries(GATEWAY_COLUMNS.map((c) => [c, g[`g_${c}`]]));
      gateways.set(r.gateway_id, toGateway(row as unknown as Selectable<GatewayTable>));
    }
    return { ...toPage(rows.map(toSession), args.first), gateways: [...gateways.values()] };
  }

  /**
   * One row comparison `(sort value, id) > / < (the cursor row's sort value, its id)`, the cursor
   * row's value read in the same statement: the cursor stays an id, whatever the sort value's size.
   */
  async listOnlineSorted(args: {
    first: number;
    afterId?: string | null;
    filter?: SessionFilter;
    order: SessionOrder;
  }): Promise<Page<Session>> {
    const { afterId, order } = args;
    const key = SORT_KEYS[order.field];
    const direction = order.direction === 'ASC' ? sql`asc` : sql`desc`;
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where((eb) => eb.and(onlineMatching(eb, args.filter)))
      .$if(!!afterId, (qb) =>
        qb.where(
          order.direction === 'ASC'
            ? sql<SqlBool>`(${key}, id) > ((select ${key} from sessions where id = ${afterId}), ${afterId})`
            : sql<SqlBool>`(${key}, id) < ((select ${key} from sessions where id = ${afterId}), ${afterId})`,
        ),
      )
      .orderBy(sql`${key} ${direction}`)
      .orderBy(sql`id ${direction}`)
      .limit(pageLimit(args.first))
      .execute();
    return toPage(rows.map(toSession), args.first);
  }

  /**
   * Unfiltered or by gateway alone: the sum of the counter rows the triggers keep (a few per gateway;
   * see the online-counters migration). Any other filter counts the matching online rows.
   */
  async countOnline(filter?: SessionFilter): Promise<number> {
    const gatewayId = filter?.gatewayId;
    if (Object.entries(filter ?? {}).every(([key, value]) => key === 'gatewayId' || value === undefined)) {
      const counted = await this.db
        .selectFrom('session_online_counts')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('n'), eb.lit(0)).as('n'))
        .$if(gatewayId !== undefined, (qb) => qb.where('gateway_id', '=', gatewayId!))
        .executeTakeFirstOrThrow();
      return Number(counted.n);
    }
    const row = await this.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => eb.and(onlineMatching(eb, filter)))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  listHistory(args: { first: number; after?: Keyset | null; filter?: SessionHistoryFilter }): Promise<Page<Session>> {
    return listHistory(this.db, args);
  }

  countHistory(filter?: SessionHistoryFilter): Promise<number> {
    return countHistory(this.db, filter);
  }

  async listOnlineByGateway(gatewayId: string): Promise<Session[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('gateway_id', '=', gatewayId)
      .where('ended_at', 'is', null)
      .orderBy('connected_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toSession);
  }

  async updateStats(
    id: string,
    stats: Pick<SessionReport, 'bytesReceived' | 'bytesSent'> & { lastSeenAt: number },
  ): Promise<void> {
    await this.#statsUpdate(id, stats).execute();
  }

  /** `updateStats`' statement, before it runs (`updateStatsMany` narrows it to a gateway on SQLite). */
  #statsUpdate(id: string, stats: Pick<SessionReport, 'bytesReceived' | 'bytesSent'> & { lastSeenAt: number }) {
    return this.db
      .updateTable('sessions')
      .set({ bytes_received: stats.bytesReceived, bytes_sent: stats.bytesSent, last_seen_at: stats.lastSeenAt })
      .where('id', '=', id)
      .where('ended_at', 'is', null);
  }

  /**
   * One conditional UPDATE, so the database decides who wins: concurrent callers race for the row
   * lock (PostgreSQL re-checks the WHERE after waiting) or the single connection (SQLite), and only
   * the first sees a changed row. A claimed echo keeps its original `ended_at`, when the daemon
   * actually dropped the client, and gains actor and reason.
   */
  async markEnded(id: string, end: SessionEnd, options?: { claimEcho?: boolean }): Promise<Session | null> {
    const { finalStats } = end;
    const values = markEndedValues(id, end);
    const statement = markEndedStatement(options?.claimEcho === true, finalStats !== undefined && finalStats !== null);
    const row = (await statement.execute(this.db, values)).rows[0];
    return row ? toSession(row) : null;
  }

  async listOnlineStatsByGateway(gatewayId: string): Promise<SessionStats[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['id', 'ref', 'bytes_received', 'bytes_sent', 'last_seen_at', 'client_address', 'transport'])
      .where('gateway_id', '=', gatewayId)
      .where('ended_at', 'is', null)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      ref: r.ref,
      bytesReceived: r.bytes_received,
      bytesSent: r.bytes_sent,
      lastSeenAt: r.last_seen_at,
      clientAddress: r.client_address,
      transport: r.transport as Transport | null,
    }));
  }

  /**
   * Where a multi-row UPDATE of `sessions` names its rows `ids`. PostgreSQL: the rows `where` admits
   * are locked first, in id order (a materialized WITH whose ORDER BY is applied before its FOR NO
   * KEY UPDATE, the lock the UPDATE takes itself; byte order, as `compare`), and the UPDATE names
   * those: left to its plan (an index scan, a bitmap heap scan in the heap's order) it locked them in
   * any order, and two writes taking the same rows in opposite orders deadlocked (PostgreSQL aborts
   * one after `deadlock_timeout`). A row that no longer passes `where` once its lock is granted
   * (ended meanwhile) is skipped, as the UPDATE's own re-check skipped it. SQLite has one writer:
   * the ids as they are.
   */
  #lockedFirst(
    ids: string[],
    where: (eb: Sessions) => Expression<SqlBool>,
  ): { db: QueryCreator<Database>; named: Expression<SqlBool> } {
    if (this.dialect !== 'postgres') return { db: this.db, named: sql<SqlBool>`id in (${sql.join(ids)})` };
    const db = this.db.with(
      (w) => w('locked').materialized(),
      (q) =>
        q
          .selectFrom('sessions')
          .select('id')
          .where('id', 'in', ids)
          .where(where)
          .orderBy(sql`id collate "C"`)
          .forNoKeyUpdate(),
    ) as unknown as QueryCreator<Database>;
    return { db, named: sql<SqlBool>`id in (select id from locked)` };
  }

  /** One UPDATE per row, in id order (as every multi-row write locks its rows): a client floats rarely, so a snapshot carries few of these. */
  async updateAddresses(changes: Pick<Session, 'id' | 'clientAddress'>[]): Promise<void> {
    for (const c of [...changes].sort((a, b) => compare(a.id, b.id))) {
      await this.db
        .updateTable('sessions')
        .set({ client_address: c.clientAddress, client_ip: ipOf(c.clientAddress) })
        .where('id', '=', c.id)
        .where('ended_at', 'is', null)
        .execute();
    }
  }

  /** One UPDATE per transport (two at most); a session that has one keeps it. */
  async fillTransports(changes: { id: string; transport: Transport }[]): Promise<void> {
    for (const transport of new Set(changes.map((c) => c.transport))) {
      const ids = changes.filter((c) => c.transport === transport).map((c) => c.id);
      for (const part of statements(ids.sort(compare), 1)) {
        const fillable = (eb: Sessions) => eb.and([eb('transport', 'is', null), eb('ended_at', 'is', null)]);
        const { db, named } = this.#lockedFirst(part, fillable);
        await db.updateTable('sessions').set({ transport }).where(named).where(fillable).execute();
      }
    }
  }

  /**
   * Multi-row `insertIfAbsent`: RETURNING names the rows this statement wrote (a conflicting row is
   * skipped and not returned). Sorted by (gateway, ref), so concurrent callers inserting the same
   * refs take the unique index's locks in the same order and wait for each other, never deadlock.
   */
  async insertManyIfAbsent(sessions: Session[]): Promise<Set<string>> {
    const inserted = new Set<string>();
    const rows = sessions.map(toRow).sort((a, b) => compare(a.gateway_id, b.gateway_id) || compare(a.ref, b.ref));
    for (const part of statements(rows, Object.keys(rows[0] ?? {}).length)) {
      for (const r of await INSERT_IF_ABSENT.execute(this.db, part)) inserted.add(r.id);
    }
    // Refs held by ended sessions (rare: a restart within the same second) are given way one by one.
    for (const session of sessions) {
      if (!inserted.has(session.id) && (await this.retireEndedRef(session)) && (await this.insertOne(session)))
        inserted.add(session.id);
    }
    return inserted;
  }

  /**
   * PostgreSQL: one UPDATE ... FROM (VALUES ...) per statement, not a round trip per row; the casts
   * give it the parameters' types. SQLite runs in-process, where the same statement measured 7x
   * slower than an UPDATE per row (5 s against 0.7 s for 100k rows), so it gets one per row.
   * A row that holds these values already is left alone: every replica applies every snapshot, and
   * the second one's identical refresh would write a new version of each row (and its WAL) for nothing.
   * The PostgreSQL statement is joined to the gateway's online rows: with
   * the ids alone the planner hashed every online session of every gateway for each statement (a seq
   * scan: 0.5 s for a 1,000-row refresh among 50k sessions under load, while the snapshot's
   * transaction held the gateway's row lock); with the gateway it reads that gateway's rows by index.
   */
  async updateStatsMany(
    gatewayId: string,
    stats: Omit<SessionStats, 'ref' | 'clientAddress' | 'transport'>[],
  ): Promise<void> {
    if (this.dialect === 'sqlite') {
      for (const s of stats) await this.#statsUpdate(s.id, s).where('gateway_id', '=', gatewayId).execute();
      return;
    }
    // In id order, so that statements of more than one part lock their rows in that order too.
    const rows = stats
      .map((s) => ({ id: s.id, r: s.bytesReceived, s: s.bytesSent, l: s.lastSeenAt }))
      .sort((a, b) => compare(a.id, b.id));
    for (const part of statements(rows, 4)) await STATS_MANY.execute(this.db, part, [gatewayId, gatewayId]);
  }

  /** The conditional UPDATE of `markEnded`, for many ids: RETURNING names the rows this call ended. */
  async markEndedMany(ids: string[], end: SessionEnd, options?: { claimEcho?: boolean }): Promise<Session[]> {
    const claimEcho = options?.claimEcho === true;
    const ended: Session[] = [];
    for (const part of statements([...ids].sort(compare), 1)) {
      const { db, named } = this.#lockedFirst(part, (eb) => endable(eb, claimEcho));
      const rows = await db
        .updateTable('sessions')
        .set((eb) => ({
          ended_at: claimEcho ? eb.fn.coalesce('ended_at', eb.val(end.endedAt)) : end.endedAt,
          ...endColumns(end),
        }))
        .where(named)
        .where((eb) => endable(eb, claimEcho))
        .returningAll()
        .execute();
      for (const r of rows) ended.push(toSession(r));
    }
    return ended;
  }

  /**
   * One conditional UPDATE per `ENDED_WITH_STATS_PER_STATEMENT` rows, each row's time and counters
   * picked by a CASE on its id (cast: PostgreSQL would read an untyped parameter as text), instead of
   * one `markEnded` each; RETURNING names the rows this call ended.
   */
  async markEndedWithStats(
    ends: { id: string; endedAt: number; finalStats: NonNullable<SessionEnd['finalStats']> }[],
    end: Omit<SessionEnd, 'endedAt' | 'finalStats'>,
    options?: { claimEcho?: boolean },
  ): Promise<Session[]> {
    const claimEcho = options?.claimEcho === true;
    const ended: Session[] = [];
    const sorted = [...ends].sort((a, b) => compare(a.id, b.id));
    if (this.dialect === 'sqlite') {
      const statement = markEndedWithStatsSqlite(claimEcho);
      for (const part of statements(sorted, 1, ENDED_WITH_STATS_PER_STATEMENT)) {
        const json = JSON.stringify(
          part.map((e) => [
            e.id,
            e.endedAt,
            e.finalStats.bytesReceived,
            e.finalStats.bytesSent,
            e.finalStats.lastSeenAt,
          ]),
        );
        const { rows } = await statement.execute(this.db, { ends: json, ...endValues(end) });
        for (const r of rows) ended.push(toSession(r));
      }
      return ended;
    }
    for (const part of statements(sorted, 9, ENDED_WITH_STATS_PER_STATEMENT)) {
      const byId = (value: (e: (typeof part)[number]) => number) =>
        sql<number>`case id ${sql.join(
          part.map((e) => sql`when ${e.id} then cast(${value(e)} as bigint)`),
          sql` `,
        )} end`;
      const endedAt = byId((e) => e.endedAt);
      const { db, named } = this.#lockedFirst(
        part.map((e) => e.id),
        (eb) => endable(eb, claimEcho),
      );
      const rows = await db
        .updateTable('sessions')
        .set((eb) => ({
          ended_at: claimEcho ? eb.fn.coalesce('ended_at', endedAt) : endedAt,
          ...endColumns(end),
          bytes_received: byId((e) => e.finalStats.bytesReceived),
          bytes_sent: byId((e) => e.finalStats.bytesSent),
          last_seen_at: byId((e) => e.finalStats.lastSeenAt),
        }))
        .where(named)
        .where((eb) => endable(eb, claimEcho))
        .returningAll()
        .execute();
      for (const r of rows) ended.push(toSession(r));
    }
    return ended;
  }
}

/** Rows an end may change: online ones; with `claimEcho`, also one ended by a daemon's echo of an admin disconnect (no actor yet). */
export function endable(eb: Sessions, claimEcho: boolean): Expression<SqlBool> {
  const online = eb('ended_at', 'is', null);
  if (!claimEcho) return online;
  const unclaimedEcho = eb.and([
    eb('end_cause', '=', 'ADMIN_DISCONNECT'),
    eb('ended_by_token_id', 'is', null),
    eb('ended_by_name', 'is', null),
  ]);
  return eb.or([online, unclaimedEcho]);
}

/** The actor and reason of an end, as named values (null where absent). */
function endValues(end: Pick<SessionEnd, 'cause' | 'endedByTokenId' | 'endedByName' | 'endReason'>) {
  return {
    cause: end.cause,
    endedByTokenId: end.endedByTokenId ?? null,
    endedByName: end.endedByName ?? null,
    endReason: end.endReason ?? null,
  };
}

/** What an end writes besides `ended_at` (and, for `markEnded`, the final counters). */
export function endColumns(end: Pick<SessionEnd, 'cause' | 'endedByTokenId' | 'endedByName' | 'endReason'>) {
  const v = endValues(end);
  return {
    end_cause: v.cause,
    ended_by_token_id: v.endedByTokenId,
    ended_by_name: v.endedByName,
    end_reason: v.endReason,
  };
}

/** The sort value of each sortable field (user names without regard to case). */
const SORT_KEYS: Record<SessionSortField, ReturnType<typeof sql>> = {
  CONNECTED_AT: sql`connected_at`,
  USER: sql`lower(user_name)`,
  GATEWAY: sql`gateway_id`,
  TRAFFIC: sql`(bytes_received + bytes_sent)`,
};

/** `text` for a LIKE pattern with escape character `!`: its own %, _ and ! match themselves. */
function likeEscaped(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}

/** The gateway columns `toGateway` reads, as `listOnlineWithGateways` selects them (`g_<column>`). */
const GATEWAY_COLUMNS = [
  'id',
  'name',
  'region',
  'protocol',
  'mode',
  'agent_connected',
  'last_seen_at',
  'daemon_started_at',
  'can_block',
  'warning',
  'daemon_responding',
  'status_since',
  'last_error',
  'last_error_at',
  'removed_at',
] as const satisfies readonly (keyof GatewayTable)[];

/** One page of online sessions, newest first (`listOnline`). */
function onlinePage(
  db: QueryCreator<Database>,
  args: { first: number; after?: Keyset | null; filter?: SessionFilter },
) {
  const { after } = args;
  return (
    db
      .selectFrom('sessions')
      .selectAll()
      .where((eb) => eb.and(onlineMatching(eb, args.filter)))
      // Row comparison "strictly after the last row" in (connected_at desc, id desc) order; both
      // databases turn it into a range on the index, so a page costs the same at any depth.
      .$if(!!after, (qb) =>
        qb.where((eb) => eb(eb.refTuple('connected_at', 'id'), '<', eb.tuple(after!.at, after!.id))),
      )
      .orderBy('connected_at', 'desc')
      .orderBy('id', 'desc')
      .limit(pageLimit(args.first))
  );
}

function onlineMatching(eb: Sessions, filter: SessionFilter | undefined): Expression<SqlBool>[] {
  return [eb('ended_at', 'is', null), ...matching(eb, filter)];
}

/** Every set field of the filter, ANDed by the caller. */
function matching(eb: Sessions, filter: SessionFilter | undefined): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  if (!filter) return conditions;
  if (filter.userId !== undefined) conditions.push(eb('user_id', '=', filter.userId));
  if (filter.userName !== undefined) conditions.push(eb('user_name', '=', filter.userName));
  if (filter.userNameContains !== undefined) {
    conditions.push(
      sql<SqlBool>`lower(user_name) like ${`%${likeEscaped(filter.userNameContains.toLowerCase())}%`} escape '!'`,
    );
  }
  if (filter.address !== undefined) conditions.push(addressMatching(eb, filter.address));
  if (filter.gatewayId !== undefined) conditions.push(eb('gateway_id', '=', filter.gatewayId));
  if (filter.protocol !== undefined) conditions.push(eb('protocol', '=', filter.protocol));
  if (filter.clientIp !== undefined) conditions.push(eb('client_ip', '=', filter.clientIp));
  if (filter.connectedAfter !== undefined) conditions.push(eb('connected_at', '>', filter.connectedAfter));
  if (filter.connectedBefore !== undefined) conditions.push(eb('connected_at', '<', filter.connectedBefore));
  return conditions;
}
