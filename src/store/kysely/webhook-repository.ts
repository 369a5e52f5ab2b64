import type { Kysely, QueryCreator, Selectable } from 'kysely';
import type {
  DeliveryStatus,
  Webhook,
  WebhookAttempt,
  WebhookDelivery,
  WebhookEventType,
} from '../../domain/webhook.js';
import type { DeliveryUpdate, WebhookBacklog, WebhookRepository } from '../store.js';
import type { Database, DialectName, WebhookDeliveryTable, WebhookTable } from './database.js';
import { statements } from './statements.js';

/** Webhooks, their outbox of deliveries and the attempts, over one Kysely instance or transaction. */
export class KyselyWebhookRepository implements WebhookRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  async insert(w: Webhook): Promise<void> {
    await this.db
      .insertInto('webhooks')
      .values({
        id: w.id,
        url: w.url,
        events: JSON.stringify(w.events),
        description: w.description,
        secret: w.secret,
        created_at: w.createdAt,
        created_by_name: w.createdByName,
        deleted_at: w.deletedAt,
      })
      .execute();
  }

  async findById(id: string): Promise<Webhook | null> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toWebhook(row) : null;
  }

  async listActive(): Promise<Webhook[]> {
    return (await activeWebhooks(this.db).execute()).map(toWebhook);
  }

  async markDeleted(id: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('webhooks')
      .set({ deleted_at: at })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** In statements within the parameter limit: a bulk disconnect's batch of events times every subscribed webhook. */
  async enqueue(deliveries: WebhookDelivery[]): Promise<void> {
    const rows = deliveries.map((d) => ({
      id: d.id,
      webhook_id: d.webhookId,
      event_id: d.eventId,
      event_type: d.eventType,
      payload: d.payload,
      status: d.status,
      attempts: d.attempts,
      created_at: d.createdAt,
      next_attempt_at: d.nextAttemptAt,
      claimed_until: null,
      delivered_at: d.deliveredAt,
      last_status_code: d.lastStatusCode,
      last_error: d.lastError,
    }));
    for (const part of statements(rows, Object.keys(rows[0] ?? {}).length)) {
      await this.db.insertInto('webhook_deliveries').values(part).execute();
    }
  }

  /**
   * One UPDATE … WHERE id IN (due rows) RETURNING: on PostgreSQL the inner SELECT takes its rows
   * `FOR UPDATE SKIP LOCKED`, so concurrent replicas split the due rows between them; SQLite has one
   * writer, so the statement alone is atomic. Either way the lease condition is re-checked in it.
   */
  async claimDue(now: number, leaseUntil: number, limit: number, webhookId?: string): Promise<WebhookDelivery[]> {
    const rows = await this.db
      .updateTable('webhook_deliveries')
      .set({ claimed_until: leaseUntil })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('status', '=', 'PENDING')
          .$if(webhookId !== undefined, (qb) => qb.where('webhook_id', '=', webhookId!))
          .where('next_attempt_at', '<=', now)
          .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', now)]))
          .orderBy('next_attempt_at')
          .orderBy('id')
          .limit(limit)
          .$if(this.dialect === 'postgres', (qb) => qb.forUpdate().skipLocked()),
      )
      .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', now)]))
      .returningAll()
      .execute();
    return rows.map(toDelivery);
  }

  /** One probe per webhook (webhooks are few), each a seek in the lane index: a backlog costs nothing here. */
  async dueWebhookIds(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhooks as w')
      .select('w.id')
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('webhook_deliveries as d')
            .select('d.id')
            .whereRef('d.webhook_id', '=', 'w.id')
            .where('d.status', '=', 'PENDING')
            .where('d.next_attempt_at', '<=', now)
            .where((x) => x.or([x('d.claimed_until', 'is', null), x('d.claimed_until', '<', now)])),
        ),
      )
      .orderBy('w.id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async recordAttempt(a: WebhookAttempt, u: DeliveryUpdate): Promise<void> {
    await this.db
      .insertInto('webhook_attempts')
      .values({
        id: a.id,
        delivery_id: a.deliveryId,
        attempt: a.attempt,
        at: a.at,
        status_code: a.statusCode,
        error: a.error,
        duration_ms: a.durationMs,
      })
      .execute();
    await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: u.status,
        attempts: u.attempts,
        next_attempt_at: u.nextAttemptAt,
        delivered_at: u.deliveredAt,
        last_status_code: u.lastStatusCode,
        last_error: u.lastError,
        claimed_until: null,
      })
      .where('id', '=', a.deliveryId)
      .execute();
  }

  async listDeliveries(webhookId: string, first: number): Promise<WebhookDelivery[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(first)
      .execute();
    return rows.map(toDelivery);
  }

  /** One pass over the PENDING rows, which the lane index holds (its partial condition): the backlog's size, not the table's. */
  async backlog(): Promise<WebhookBacklog[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => ['webhook_id', eb.fn.countAll<number | string>().as('n'), eb.fn.min('created_at').as('oldest')])
      .where('status', '=', 'PENDING')
      .groupBy('webhook_id')
      .orderBy('webhook_id')
      .execute();
    return rows.map((r) => ({ webhookId: r.webhook_id, pending: Number(r.n), oldestCreatedAt: Number(r.oldest) }));
  }

  async listAttempts(deliveryIds: string[]): Promise<WebhookAttempt[]> {
    if (deliveryIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('delivery_id', 'in', deliveryIds)
      .orderBy('delivery_id')
      .orderBy('attempt')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      deliveryId: r.delivery_id,
      attempt: r.attempt,
      at: r.at,
      statusCode: r.status_code,
      error: r.error,
      durationMs: r.duration_ms,
    }));
  }
}

/** The active webhooks' rows, oldest first: `listActive`'s read, also part of the outbox's statement that appends. */
export function activeWebhooks(db: Pick<QueryCreator<Database>, 'selectFrom'>) {
  return db.selectFrom('webhooks').selectAll().where('deleted_at', 'is', null).orderBy('created_at').orderBy('id');
}

/** A `webhooks` row as the domain's Webhook. */
export function toWebhook(r: Selectable<WebhookTable>): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as WebhookEventType[],
    description: r.description,
    secret: r.secret,
    createdAt: r.created_at,
    createdByName: r.created_by_name,
    deletedAt: r.deleted_at,
  };
}

function toDelivery(r: Selectable<WebhookDeliveryTable>): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    eventId: r.event_id,
    eventType: r.event_type as WebhookEventType,
    payload: r.payload,
    status: r.status as DeliveryStatus,
    attempts: r.attempts,
    createdAt: r.created_at,
    nextAttemptAt: r.next_attempt_at,
    deliveredAt: r.delivered_at,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
  };
}
