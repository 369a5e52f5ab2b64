import { sql } from 'kysely';
import type { MigrationDb } from '../database.js';

/**
 * Per-endpoint delivery lanes: the dispatcher asks which webhooks have due deliveries and claims each
 * one's separately. Without this index both would walk every due row of every webhook, and a hung
 * endpoint's backlog would make each healthy endpoint's claim slower.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createIndex('webhook_deliveries_lane_idx')
    .on('webhook_deliveries')
    .columns(['webhook_id', 'next_attempt_at', 'id'])
    .where(sql<boolean>`status = 'PENDING'`)
    .execute();
}
