import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AnnouncedEventType } from '../../domain/event-types.js';
import type { Webhook } from '../../domain/webhook.js';
import type { OutboxEvent, OutboxRepository, OutboxTaker, WebhookRepository } from '../store.js';
import type { Database, DialectName, EventOutboxTable } from './database.js';
import { BulkInsert } from './bulk-insert.js';
import { activeWebhooks, toWebhook } from './webhook-repository.js';

/** Ids per statement: far below SQLite's and PostgreSQL's bound-parameter limits. */
const IDS_PER_STATEMENT = 1000;

const APPEND = new BulkInsert((db, rows: Insertable<EventOutboxTable>[]) => db.insertInto('event_outbox').values(rows));
/**
 * PostgreSQL: the insert as a data-modifying WITH, and the active webhooks (as `listActive`) read by
 * the same statement. Its read sees what a statement of its own right after the insert would (the
 * transaction's writes, and what other transactions committed before the statement began).
 */
const APPEND_LISTING_WEBHOOKS = new BulkInsert((db, rows: Insertable<EventOutboxTable>[]) =>
  activeWebhooks(db.with('appended', (q) => q.insertInto('event_outbox').values(rows))),
);

/** A transaction's hand-off (Store.handOffOutbox): the taker it began with, and what it appended leased to it. */
export interface OutboxHandOff {
  taker: OutboxTaker;
  leased: OutboxEvent[];
}

/** The event outbox over one Kysely instance or transaction. */
export class KyselyOutboxRepository implements OutboxRepository {
  /**
   * `webhooks`: the repository `appendListingWebhooks` reads through where one statement cannot do both (SQLite: cached).
   * `handOff`: in a transaction while a taker is set, where appended rows are leased to it and listed.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
    private readonly webhooks: WebhookRepository,
    private readonly handOff: OutboxHandOff | null = null,
  ) {}

  async append(events: OutboxEvent[]): Promise<void> {
    const leaseUntil = this.leaseUntil(events);
    for (let i = 0; i < events.length; i += IDS_PER_STATEMENT)
      await APPEND.execute(this.db, rowsOf(events, i, leaseUntil));
    this.leased(events, leaseUntil);
  }

  async appendListingWebhooks(events: OutboxEvent[]): Promise<Webhook[]> {
    const last = events.length === 0 ? 0 : Math.floor((events.length - 1) / IDS_PER_STATEMENT) * IDS_PER_STATEMENT;
    if (this.dialect !== 'postgres' || events.length === 0) {
      await this.append(events);
      return this.webhooks.listActive();
    }
    const leaseUntil = this.leaseUntil(events);
    for (let i = 0; i < last; i += IDS_PER_STATEMENT) await APPEND.execute(this.db, rowsOf(events, i, leaseUntil));
    const hooks = await APPEND_LISTING_WEBHOOKS.execute(this.db, rowsOf(events, last, leaseUntil));
    this.leased(events, leaseUntil);
    return hooks.map(toWebhook);
  }

  /** The lease rows appended now are written with: the taker's, if any takes them. */
  private leaseUntil(events: OutboxEvent[]): number | null {
    return events.length === 0 || !this.handOff ? null : this.handOff.taker.leaseUntil();
  }

  /** Once written: listed for the taker, handed to it when the transaction commits. */
  private leased(events: OutboxEvent[], leaseUntil: number | null): void {
    if (leaseUntil !== null) this.handOff?.leased.push(...events);
  }

  /**
   * One UPDATE … WHERE seq IN (unpublished, unleased rows) RETURNING, as the webhook outbox's
   * `claimDue`: on PostgreSQL the inner SELECT locks its rows `FOR UPDATE SKIP LOCKED`, so concurrent
   * relays split the rows; SQLite has one writer, so the statement alone is atomic. An idle poll
   * matches no row and writes nothing.
   */
  async claim(now: number, leaseUntil: number, limit: number): Promise<OutboxEvent[]> {
    const rows = await this.db
      .updateTable('event_outbox')
      .set({ claimed_until: leaseUntil })
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('event_outbox')
          .select('seq')
          .where('published_at', 'is', null)
          .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', now)]))
          .orderBy('seq')
          .limit(limit)
          .$if(this.dialect === 'postgres', (qb) => qb.forUpdate().skipLocked()),
      )
      .where('published_at', 'is', null)
      .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', now)]))
      .returningAll()
      .execute();
    // RETURNING has no order of its own.
    return rows.sort((a, b) => a.seq - b.seq).map(toEvent);
  }

  async markPublished(ids: string[], at: number): Promise<void> {
    for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
      await this.db
        .updateTable('event_outbox')
        .set({ published_at: at, claimed_until: null })
        .where('id', 'in', ids.slice(i, i + IDS_PER_STATEMENT))
        .where('published_at', 'is', null)
        .execute();
    }
  }

  async prune(args: {
    publishedBefore: number;
    unpublishedBefore: number;
    limit: number;
  }): Promise<{ published: number; unpublished: number }> {
    const published = await this.db
      .deleteFrom('event_outbox')
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('event_outbox')
          .select('seq')
          .where('created_at', '<', args.publishedBefore)
          .where('published_at', 'is not', null)
          .orderBy('created_at')
          .limit(args.limit),
      )
      .executeTakeFirst();
    const unpublished = await this.db
      .deleteFrom('event_outbox')
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('event_outbox')
          .select('seq')
          .where('created_at', '<', args.unpublishedBefore)
          .where('published_at', 'is', null)
          .orderBy('created_at')
          .limit(args.limit),
      )
      .executeTakeFirst();
    return { published: Number(published.numDeletedRows), unpublished: Number(unpublished.numDeletedRows) };
  }
}

/** An outbox row as the port hands it out (also read by test support). */
export function toEvent(r: Selectable<EventOutboxTable>): OutboxEvent {
  return { id: r.id, type: r.type as AnnouncedEventType, at: r.at, payload: r.payload, createdAt: r.created_at };
}

/** Up to IDS_PER_STATEMENT events from `from`, as rows (leased until `leaseUntil`, when not null). */
function rowsOf(events: OutboxEvent[], from: number, leaseUntil: number | null): Insertable<EventOutboxTable>[] {
  return events.slice(from, from + IDS_PER_STATEMENT).map((e) => ({
    id: e.id,
    type: e.type,
    at: e.at,
    payload: e.payload,
    created_at: e.createdAt,
    claimed_until: leaseUntil,
    published_at: null,
  }));
}
