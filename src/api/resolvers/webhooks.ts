import type { DeliveryView, WebhookView } from '../../core/api-types.js';
import type { WebhookAttempt } from '../../domain/webhook.js';
import type { ApiContext } from '../context.js';
import type { ResolverMap } from './resolver-map.js';

const TO_ENUM: Record<string, string> = { 'session.connected': 'SESSION_CONNECTED', 'session.disconnected': 'SESSION_DISCONNECTED' };
const FROM_ENUM: Record<string, string> = { SESSION_CONNECTED: 'session.connected', SESSION_DISCONNECTED: 'session.disconnected' };

interface CreateWebhookInput {
  url: string;
  events: string[];
  description?: string | null;
}

export const webhookResolvers: ResolverMap = {
  Query: {
    webhooks: (_root: unknown, _args: unknown, ctx: ApiContext) => ctx.core.webhooks(ctx.actor),
    webhookDeliveries: (_root: unknown, args: { webhookId: string; first?: number | null }, ctx: ApiContext) =>
      ctx.core.webhookDeliveries(ctx.actor, args.webhookId, args.first),
  },
  Mutation: {
    createWebhook: (_root: unknown, args: { input: CreateWebhookInput }, ctx: ApiContext) =>
      ctx.core.createWebhook(ctx.actor, { url: args.input.url, events: args.input.events.map((e) => FROM_ENUM[e] ?? e), description: args.input.description }),
    deleteWebhook: (_root: unknown, args: { id: string }, ctx: ApiContext) => ctx.core.deleteWebhook(ctx.actor, args.id),
  },
  Webhook: {
    events: (w: WebhookView) => w.events.map((e) => TO_ENUM[e]),
    createdBy: (w: WebhookView) => w.createdByName,
  },
  WebhookDelivery: {
    eventType: (d: DeliveryView) => TO_ENUM[d.eventType],
    attempts: (d: DeliveryView) => d.attemptLog,
  },
  WebhookAttempt: {
    attempt: (a: WebhookAttempt) => a.attempt,
  },
};
