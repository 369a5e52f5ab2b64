import type { DeliveryView, WebhookView } from '../../core/api-types.js';
import type { WebhookAttempt } from '../../domain/webhook.js';
import type { ApiContext } from '../context.js';
import { eventTypeOfGraphql, graphqlEventType } from './event-type-names.js';
import type { ResolverMap } from './resolver-map.js';

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
      ctx.core.createWebhook(ctx.actor, {
        url: args.input.url,
        events: args.input.events.map(eventTypeOfGraphql),
        description: args.input.description,
      }),
    deleteWebhook: (_root: unknown, args: { id: string }, ctx: ApiContext) =>
      ctx.core.deleteWebhook(ctx.actor, args.id),
  },
  Webhook: {
    events: (w: WebhookView) => w.events.map(graphqlEventType),
    createdBy: (w: WebhookView) => w.createdByName,
  },
  WebhookDelivery: {
    eventType: (d: DeliveryView) => graphqlEventType(d.eventType),
    attempts: (d: DeliveryView) => d.attemptLog,
  },
  WebhookAttempt: {
    attempt: (a: WebhookAttempt) => a.attempt,
  },
};
