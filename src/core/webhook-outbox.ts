import { createHmac } from 'node:crypto';
import { newWebhookDeliveryId } from '../domain/ids.js';
import type { Webhook, WebhookDelivery } from '../domain/webhook.js';
import type { StoreTx } from '../store/store.js';
import type { SessionEvent } from './session-events.js';

/**
 * The JSON body of a delivery. The session's own fields are picked one by one, so the payload stays
 * stable when the Session type grows.
 */
export function webhookPayload(e: SessionEvent): string {
  const s = e.session;
  return JSON.stringify({
    id: e.id,
    type: e.type,
    at: new Date(e.at).toISOString(),
    session: {
      id: s.id,
      user: { id: s.userId, name: s.userName },
      gatewayId: s.gatewayId,
      clientAddress: s.clientAddress,
      virtualAddress: s.virtualAddress,
      virtualAddress6: s.virtualAddress6,
      connectedAt: new Date(s.connectedAt).toISOString(),
      endedAt: s.endedAt === null ? null : new Date(s.endedAt).toISOString(),
      cause: e.cause,
    },
    actor: e.actor,
    reason: e.reason,
    message: e.message,
  });
}

/**
 * Writes one delivery per (event, subscribed webhook) with the caller's transaction: the events are
 * delivered at least once exactly when the change they report committed (the outbox pattern).
 * `hooks`: the active webhooks, read in that transaction (`outbox.appendListingWebhooks`).
 */
export async function enqueueWebhookDeliveries(
  tx: StoreTx,
  events: readonly SessionEvent[],
  hooks: readonly Webhook[],
  now: number,
): Promise<void> {
  if (events.length === 0 || hooks.length === 0) return;
  const rows: WebhookDelivery[] = [];
  for (const e of events) {
    const payload = webhookPayload(e);
    for (const w of hooks) {
      if (!w.events.includes(e.type)) continue;
      rows.push(pendingDelivery(w.id, e, payload, now));
    }
  }
  await tx.webhooks.enqueue(rows);
}

/** A delivery of one event to one webhook, not yet attempted: due at once. */
export function pendingDelivery(
  webhookId: string,
  event: { id: string; type: WebhookDelivery['eventType'] },
  payload: string,
  now: number,
): WebhookDelivery {
  return {
    id: newWebhookDeliveryId(),
    webhookId,
    eventId: event.id,
    eventType: event.type,
    payload,
    status: 'PENDING',
    attempts: 0,
    createdAt: now,
    nextAttemptAt: now,
    deliveredAt: null,
    lastStatusCode: null,
    lastError: null,
  };
}

/** `Switchboard-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
