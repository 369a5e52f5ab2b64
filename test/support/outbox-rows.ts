import type { OutboxEvent, Store } from '../../src/store/store.js';
import { KyselyStore } from '../../src/store/kysely/kysely-store.js';
import { toEvent } from '../../src/store/kysely/outbox-repository.js';

/**
 * One row of the event outbox as the database holds it, with when it was published (null: not yet),
 * or null when absent (never written, or pruned). Production never reads a row back by id (the relay
 * claims), so the store port has no such method: tests read the table directly, on SQLite and PostgreSQL.
 */
export async function readOutboxRow(
  store: Store,
  id: string,
): Promise<(OutboxEvent & { publishedAt: number | null }) | null> {
  if (!(store instanceof KyselyStore)) throw new Error('readOutboxRow needs the Kysely store');
  const row = await store.db.selectFrom('event_outbox').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? { ...toEvent(row), publishedAt: row.published_at } : null;
}
