/**
 * The durable work of one Switchboard disconnect, written by hand for the "same-work" baselines:
 * the statements Switchboard's disconnect runs (src/core/disconnect.ts, intent-settlement.ts,
 * event-outbox.ts over src/store/kysely), with the same SQL texts, on the same SQLite file, opened
 * with the same pragmas and the same checkpointing on a worker thread, and the `client-kill` round
 * trip between them:
 *
 * 1. the session looked up (online);
 * 2. one transaction: the intent (`disconnect_intents`, unless one is pending) and its PENDING audit
 *    row — durable before the daemon hears of it;
 * 3. `client-kill` on the baseline's own management connection;
 * 4. one transaction: the intent settled DONE, the session ended as ADMIN_DISCONNECT with the actor,
 *    the SUCCESS audit row, the `session.disconnected` event in the outbox;
 * 5. the outbox relayed as Switchboard's relay does (rows claimed, then marked published).
 *
 * Transactions of disconnects that are ready in the same event-loop turn share one commit, as
 * Switchboard's group commit does: the baseline is not made slower by committing more often.
 * The daemon's echo (`>CLIENT:DISCONNECT`) is not read: it carries no durable work once the
 * disconnect is settled. No webhooks are registered in the benchmarks, so no delivery rows.
 */
import SqliteDatabase from 'better-sqlite3';
import type { Actor } from '../../src/domain/actor.js';
import type { DisconnectIntent } from '../../src/domain/disconnect-intent.js';
import { newAuditEventId } from '../../src/domain/ids.js';
import { newIntentId } from '../../src/domain/disconnect-intent.js';
import { auditEvent, auditRowValues } from '../../src/core/audit.js';
import { settlementAudit } from '../../src/core/intent-settlement.js';
import { sessionEvent } from '../../src/core/session-events.js';
import { versioned } from '../../src/core/reports.js';
import { SqliteCheckpointer } from '../../src/store/kysely/sqlite-checkpointer.js';
import { tuneSqliteConnection } from '../../src/store/kysely/dialect.js';
import { toSession as rowToSession } from '../../src/store/kysely/session-columns.js';
import type { SessionTable } from '../../src/store/kysely/database.js';
import { ManagementLink } from './management-link.js';

/** The SQL texts, as Switchboard's store compiles them (read from its statement trace). */
export const SAME_WORK_SQL = {
  begin: 'begin immediate',
  commit: 'commit',
  findOnline: 'select * from "sessions" where "id" = ? and "ended_at" is null',
  insertIntent:
    'insert into "disconnect_intents" ("id", "session_id", "gateway_id", "user_name", "created_at", "actor_token_id", "actor_name", "actor_ip", "actor_user_agent", "actor_request_id", "reason", "message", "mode", "block_seconds", "status", "unconfirmed_at", "settled_at", "audit_event_id", "settled_audit_event_id") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict ("session_id") where status = \'PENDING\' do nothing',
  insertAudit:
    'insert into "audit_events" ("id", "at", "action", "outcome", "actor_token_id", "actor_name", "actor_ip", "actor_user_agent", "request_id", "target_session_id", "target_user_name", "target_gateway_id", "reason", "error_code", "duration_ms", "metadata") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  settle:
    'update "disconnect_intents" set "status" = ?, "settled_at" = ?, "settled_audit_event_id" = ? where "id" = ? and "status" = ?',
  endSession:
    'update "sessions" set "ended_at" = coalesce("ended_at", ?), "end_cause" = ?, "ended_by_token_id" = ?, "ended_by_name" = ?, "end_reason" = ? where "id" = ? and ("ended_at" is null or ("end_cause" = ? and "ended_by_token_id" is null and "ended_by_name" is null)) returning *',
  insertOutbox:
    'insert into "event_outbox" ("id", "type", "at", "payload", "created_at", "claimed_until", "published_at") values (?, ?, ?, ?, ?, ?, ?)',
  claimOutbox:
    'update "event_outbox" set "claimed_until" = ? where "seq" in (select "seq" from "event_outbox" where "published_at" is null and ("claimed_until" is null or "claimed_until" < ?) order by "seq" limit ?) and "published_at" is null and ("claimed_until" is null or "claimed_until" < ?) returning *',
  markPublished: (n: number) =>
    `update "event_outbox" set "published_at" = ?, "claimed_until" = ? where "id" in (${Array(n).fill('?').join(', ')}) and "published_at" is null`,
} as const;

/** Switchboard's relay: a round every 100 ms, at most 500 rows, a 10 s lease. */
const RELAY = { pollMs: 100, batch: 500, leaseMs: 10_000 };

type Row = Record<string, unknown>;

export class SameWork {
  private readonly db: SqliteDatabase.Database;
  private readonly checkpointer: SqliteCheckpointer;
  private readonly link: ManagementLink;
  private readonly stmt: Record<Exclude<keyof typeof SAME_WORK_SQL, 'markPublished'>, SqliteDatabase.Statement>;
  private readonly marks = new Map<number, SqliteDatabase.Statement>();
  private queued: { fn: () => void; done: (e?: unknown) => void }[] = [];
  private relayTimer: NodeJS.Timeout | null = null;

  constructor(dbPath: string, socketPath: string) {
    const db = new SqliteDatabase(dbPath);
    // The pragmas of src/store/kysely/dialect.ts, and its checkpointer.
    tuneSqliteConnection(db, dbPath);
    this.checkpointer = SqliteCheckpointer.start(db);
    this.db = db;
    const { markPublished: _, ...texts } = SAME_WORK_SQL;
    this.stmt = Object.fromEntries(Object.entries(texts).map(([k, sql]) => [k, db.prepare(sql)])) as SameWork['stmt'];
    this.link = new ManagementLink(socketPath);
  }

  /** Ends one session as `actor`'s disconnect; false when it is not online (or already being ended). */
  async disconnect(actor: Actor, sessionId: string): Promise<boolean> {
    const started = performance.now();
    const row = this.stmt.findOnline.get(sessionId) as Row | undefined;
    if (!row) return false;
    const session = toSession(row);
    const intent: DisconnectIntent = {
      id: newIntentId(),
      sessionId,
      gatewayId: session.gatewayId,
      userName: session.userName,
      createdAt: Date.now(),
      actorTokenId: actor.tokenId,
      actorName: actor.name,
      actorIp: actor.ip,
      actorUserAgent: actor.userAgent,
      actorRequestId: actor.requestId ?? null,
      reason: null,
      message: null,
      mode: 'HALT',
      blockSeconds: null,
      status: 'PENDING',
      unconfirmedAt: null,
      settledAt: null,
      auditEventId: '',
      settledAuditEventId: null,
    };
    const pending = auditEvent(actor, 'session.disconnect', 'PENDING', {
      at: intent.createdAt,
      targetSessionId: sessionId,
      targetUserName: session.userName,
      targetGatewayId: session.gatewayId,
      reason: null,
      metadata: { intentId: intent.id, mode: intent.mode, message: null, blockSeconds: null },
    });
    intent.auditEventId = pending.id;
    let recorded = false;
    await this.transaction(() => {
      recorded = this.stmt.insertIntent.run(...intentRow(intent)).changes > 0;
      if (recorded) this.stmt.insertAudit.run(...auditRowValues(pending));
    });
    if (!recorded) return false;
    if (!(await this.link.kill(Number(session.ref.split(':')[1])))) return false;
    const now = Date.now();
    const auditEventId = newAuditEventId();
    await this.transaction(() => {
      if (this.stmt.settle.run('DONE', now, auditEventId, intent.id, 'PENDING').changes === 0) return;
      const ended = this.stmt.endSession.get(
        now,
        'ADMIN_DISCONNECT',
        intent.actorTokenId,
        intent.actorName,
        intent.reason,
        sessionId,
        'ADMIN_DISCONNECT',
      ) as Row | undefined;
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      this.stmt.insertAudit.run(
        ...auditRowValues(
          settlementAudit(intent, auditEventId, 'SUCCESS', now, {
            durationMs,
            metadata: { confirmedBy: 'GATEWAY_REPLY', late: false, endedAt: now },
          }),
        ),
      );
      if (!ended) return;
      const event = sessionEvent('session.disconnected', toSession(ended), {
        actor: { tokenId: intent.actorTokenId, name: intent.actorName },
        reason: intent.reason,
        message: intent.message,
      });
      this.stmt.insertOutbox.run(event.id, event.type, event.at, JSON.stringify(event), now, null, null);
    });
    this.relaySoon();
    return true;
  }

  async close(): Promise<void> {
    if (this.relayTimer) clearTimeout(this.relayTimer);
    this.link.close();
    await this.checkpointer.stop();
    this.db.close();
  }

  /** `fn` inside the transaction that the disconnects ready in this turn share. */
  private transaction(fn: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ fn, done: (e) => (e === undefined ? resolve() : reject(e)) });
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    try {
      this.stmt.begin.run();
      for (const unit of batch) unit.fn();
      this.stmt.commit.run();
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('rollback');
      for (const unit of batch) unit.done(e);
      return;
    }
    for (const unit of batch) unit.done();
  }

  /** Switchboard's relay round: claim the unpublished rows, publish (the payload read), mark them published. */
  private relaySoon(): void {
    if (this.relayTimer) return;
    this.relayTimer = setTimeout(() => {
      this.relayTimer = null;
      const now = Date.now();
      const rows = this.stmt.claimOutbox.all(now + RELAY.leaseMs, now, RELAY.batch, now) as Row[];
      if (rows.length === 0) return;
      rows.sort((a, b) => (a.seq as number) - (b.seq as number));
      for (const r of rows) versioned(JSON.parse(r.payload as string) as object);
      let mark = this.marks.get(rows.length);
      if (!mark) this.marks.set(rows.length, (mark = this.db.prepare(SAME_WORK_SQL.markPublished(rows.length))));
      mark.run(Date.now(), null, ...rows.map((r) => r.id));
      if (rows.length >= RELAY.batch) this.relaySoon();
    }, RELAY.pollMs);
  }
}

function intentRow(i: DisconnectIntent): unknown[] {
  return [
    i.id,
    i.sessionId,
    i.gatewayId,
    i.userName,
    i.createdAt,
    i.actorTokenId,
    i.actorName,
    i.actorIp,
    i.actorUserAgent,
    i.actorRequestId,
    i.reason,
    i.message,
    i.mode,
    i.blockSeconds,
    i.status,
    i.unconfirmedAt,
    i.settledAt,
    i.auditEventId,
    i.settledAuditEventId,
  ];
}

/** A `select *` / `returning *` row of `sessions` as the store maps it. */
const toSession = (r: Row) => rowToSession(r as unknown as SessionTable);
