/**
 * Writing announced facts into the event outbox, in the caller's transaction: an event exists
 * exactly when the change it reports committed, and the relay (event-relay.ts) publishes it after,
 * however the process that made the change fares. Callers make ONE call inside their transaction.
 */
import { TOKEN_REVOKED, type AnnouncedEventType } from '../domain/event-types.js';
import { newOrderedId } from '../domain/ids.js';
import { subjects } from '../bus/bus.js';
import type { StoreTx } from '../store/store.js';
import type { SessionEvent } from './session-events.js';
import { enqueueWebhookDeliveries } from './webhook-outbox.js';

/** What the relay publishes for a revoked token (subject `subjects.tokenRevoked`). */
export interface TokenRevokedEvent {
  id: string;
  type: typeof TOKEN_REVOKED;
  at: number;
  tokenId: string;
}

/**
 * The session events' outbox rows and their webhook delivery rows, in `tx`. Every session change
 * (any cause: a report, a snapshot, an operator's disconnect) goes through here.
 */
export async function appendSessionEvents(tx: StoreTx, events: readonly SessionEvent[], now: number): Promise<void> {
  if (events.length === 0) return;
  const hooks = await tx.outbox.appendListingWebhooks(
    events.map((e) => ({ id: e.id, type: e.type, at: e.at, payload: JSON.stringify(e), createdAt: now })),
  );
  await enqueueWebhookDeliveries(tx, events, hooks, now);
}

/** A revoked token's announcement, in the transaction that revokes it: every replica ends its streams. */
export async function appendTokenRevoked(tx: StoreTx, tokenId: string, now: number): Promise<void> {
  const event: TokenRevokedEvent = { id: newOrderedId('event'), type: TOKEN_REVOKED, at: now, tokenId };
  await tx.outbox.append([{ id: event.id, type: event.type, at: now, payload: JSON.stringify(event), createdAt: now }]);
}

/** The bus subject an event type is published on. */
export function subjectOf(type: AnnouncedEventType): string {
  return type === TOKEN_REVOKED ? subjects.tokenRevoked : subjects.sessionEvents;
}
