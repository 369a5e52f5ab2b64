import type { Expression, ExpressionBuilder, Insertable, Kysely, Selectable, SqlBool } from 'kysely';
import type { AuditAction, AuditEvent, AuditOutcome } from '../../domain/audit.js';
import type { AuditFilter, AuditRepository, Keyset, Page } from '../store.js';
import type { AuditEventTable, Database } from './database.js';
import { BulkInsert } from './bulk-insert.js';
import { pageLimit, toPage } from './page.js';
import { Precompiled } from './precompiled.js';
import { statements } from './statements.js';

/** One audit row (every disconnect writes two). */
const appendOne = new Precompiled((db, row: Insertable<AuditEventTable>) => db.insertInto('audit_events').values(row));
/** `appendMany`'s multi-row insert (a bulk's PENDING rows, a run's SUCCESS rows): its text compiled once per row count. */
const APPEND_MANY = new BulkInsert((db, rows: Insertable<AuditEventTable>[]) =>
  db.insertInto('audit_events').values(rows),
);

/** The audit log over one Kysely instance or transaction: append and read, nothing else. */
export class KyselyAuditRepository implements AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async append(event: AuditEvent): Promise<void> {
    await appendOne.execute(this.db, toAuditRow(event));
  }

  async appendMany(events: AuditEvent[]): Promise<void> {
    const rows = events.map(toAuditRow);
    for (const part of statements(rows, Object.keys(rows[0] ?? {}).length)) await APPEND_MANY.execute(this.db, part);
  }

  async appendIfAbsent(event: AuditEvent): Promise<boolean> {
    const r = await this.db
      .insertInto('audit_events')
      .values(toAuditRow(event))
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Newest first by (at desc, id desc), strictly after `after`. */
  async list(args: { first: number; after?: Keyset | null; filter?: AuditFilter }): Promise<Page<AuditEvent>> {
    const { after } = args;
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where((eb) => eb.and(matching(eb, args.filter)))
      .$if(!!after, (qb) => qb.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(after!.at, after!.id))))
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(pageLimit(args.first))
      .execute();
    return toPage(rows.map(toEvent), args.first);
  }

  async count(filter?: AuditFilter): Promise<number> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where((eb) => eb.and(matching(eb, filter)))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

/** An audit event as its row (also written by the intent repository's combined insert). */
export function toAuditRow(event: AuditEvent): Insertable<AuditEventTable> {
  return {
    id: event.id,
    at: event.at,
    action: event.action,
    outcome: event.outcome,
    actor_token_id: event.actorTokenId,
    actor_name: event.actorName,
    actor_ip: event.actorIp,
    actor_user_agent: event.actorUserAgent,
    request_id: event.requestId,
    target_session_id: event.targetSessionId,
    target_user_name: event.targetUserName,
    target_gateway_id: event.targetGatewayId,
    reason: event.reason,
    error_code: event.errorCode,
    duration_ms: event.durationMs,
    metadata: JSON.stringify(event.metadata),
  };
}

/** Every set field of the filter; `since` is inclusive, `until` exclusive. */
function matching(
  eb: ExpressionBuilder<Database, 'audit_events'>,
  filter: AuditFilter | undefined,
): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  if (!filter) return conditions;
  if (filter.action !== undefined) conditions.push(eb('action', '=', filter.action));
  if (filter.outcome !== undefined) conditions.push(eb('outcome', '=', filter.outcome));
  if (filter.actorTokenId !== undefined) conditions.push(eb('actor_token_id', '=', filter.actorTokenId));
  if (filter.requestId !== undefined) conditions.push(eb('request_id', '=', filter.requestId));
  if (filter.targetSessionId !== undefined) conditions.push(eb('target_session_id', '=', filter.targetSessionId));
  if (filter.targetUserName !== undefined) conditions.push(eb('target_user_name', '=', filter.targetUserName));
  if (filter.targetGatewayId !== undefined) conditions.push(eb('target_gateway_id', '=', filter.targetGatewayId));
  if (filter.since !== undefined) conditions.push(eb('at', '>=', filter.since));
  if (filter.until !== undefined) conditions.push(eb('at', '<', filter.until));
  return conditions;
}

function toEvent(r: Selectable<AuditEventTable>): AuditEvent {
  return {
    id: r.id,
    at: r.at,
    action: r.action as AuditAction,
    outcome: r.outcome as AuditOutcome,
    actorTokenId: r.actor_token_id,
    actorName: r.actor_name,
    actorIp: r.actor_ip,
    actorUserAgent: r.actor_user_agent,
    requestId: r.request_id,
    targetSessionId: r.target_session_id,
    targetUserName: r.target_user_name,
    targetGatewayId: r.target_gateway_id,
    reason: r.reason,
    errorCode: r.error_code,
    durationMs: r.duration_ms,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
  };
}
