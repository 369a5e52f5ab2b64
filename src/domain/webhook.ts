import { SESSION_EVENT_TYPES, type SessionEventType } from './event-types.js';

/** Session event types a webhook can ask for (the one spelling of event-types.ts, also in the payload's `type`). */
export const WEBHOOK_EVENT_TYPES = SESSION_EVENT_TYPES;
export type WebhookEventType = SessionEventType;

/**
 * An operator's HTTP endpoint that receives session events. `secret` signs every delivery; it is a
 * signing key (kept so it can sign), shown once at creation, never logged.
 */
export interface Webhook {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  secret: string;
  createdAt: number;
  createdByName: string;
  deletedAt: number | null;
}

/** PENDING: to be (re)tried. DELIVERED: a 2xx came back. FAILED: gave up (too old, or the webhook was deleted). */
export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

/** One event for one webhook: written in the transaction of the change it reports (the outbox). */
export interface WebhookDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: WebhookEventType;
  /** The exact JSON body that is POSTed (and signed). */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
}

/** One POST of a delivery and what came of it. */
export interface WebhookAttempt {
  id: string;
  deliveryId: string;
  attempt: number;
  at: number;
  /** Null when no response came (connection refused, timeout). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}
