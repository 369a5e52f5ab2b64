import type { Actor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { MAX_WEBHOOK_DESCRIPTION_CHARS, MAX_WEBHOOK_URL_CHARS } from '../domain/input-limits.js';
import { hasScope } from '../domain/scopes.js';
import { refusalText, refusedCharacter } from '../domain/text.js';
import {
  WEBHOOK_EVENT_TYPES,
  type Webhook,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEventType,
} from '../domain/webhook.js';
import type { Store } from '../store/store.js';
import { auditEvent } from './audit.js';

/** A webhook as the API shows it: never its secret. */
export type WebhookView = Omit<Webhook, 'secret'>;
export type DeliveryView = WebhookDelivery & { attemptLog: WebhookAttempt[] };

const MAX_DELIVERIES = 500;

function requireAdmin(actor: Actor): void {
  if (!hasScope(actor.scopes, 'admin')) throw new DomainError('FORBIDDEN', 'Admin access required to manage webhooks');
}

function view(w: Webhook): WebhookView {
  const { secret: _secret, ...rest } = w;
  return rest;
}

/**
 * An absolute http(s) URL, checked on the text as given: the URL parser quietly drops tabs and
 * newlines and trims control characters, so `http://exa\nmple.com` would otherwise be accepted.
 */
function checkUrl(text: string): string {
  const refused = refusedCharacter(text, 'line');
  if (refused) throw new DomainError('BAD_USER_INPUT', `url ${refusalText(refused)}`);
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new DomainError('BAD_USER_INPUT', 'url must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new DomainError('BAD_USER_INPUT', 'url must be an absolute http:// or https:// URL');
  // fetch refuses a URL with credentials, so no delivery could ever be made, and its error names the
  // whole URL, password included. Receivers check the Switchboard-Signature header instead.
  if (url.username !== '' || url.password !== '')
    throw new DomainError(
      'BAD_USER_INPUT',
      'url must not carry credentials (user:password@): no delivery could send them; check the Switchboard-Signature header instead',
    );
  // Percent-encoding makes the normalised form longer than the text given: both are capped.
  const normalised = url.toString();
  if (text.length > MAX_WEBHOOK_URL_CHARS || normalised.length > MAX_WEBHOOK_URL_CHARS) {
    throw new DomainError('BAD_USER_INPUT', `url must be at most ${MAX_WEBHOOK_URL_CHARS} characters`);
  }
  return normalised;
}

/** A description shown to people: a name's characters, refused rather than cut when too long. */
function checkDescription(text: string | null | undefined): string | null {
  const description = text?.trim() ?? '';
  if (description.length > MAX_WEBHOOK_DESCRIPTION_CHARS)
    throw new DomainError('BAD_USER_INPUT', `description must be at most ${MAX_WEBHOOK_DESCRIPTION_CHARS} characters`);
  const refused = refusedCharacter(description, 'name');
  if (refused) throw new DomainError('BAD_USER_INPUT', `description ${refusalText(refused)}`);
  return description === '' ? null : description;
}

/** Webhook administration (scope `admin`): every change audited in its own transaction. */
export class WebhookAdmin {
  constructor(private readonly deps: { store: Store; now: () => number }) {}

  async create(
    actor: Actor,
    args: { url: string; events: string[]; description?: string | null },
  ): Promise<{ webhook: WebhookView; secret: string }> {
    requireAdmin(actor);
    const url = checkUrl(args.url);
    const events = [...new Set(args.events)];
    if (
      events.length === 0 ||
      !events.every((e): e is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(e))
    ) {
      throw new DomainError('BAD_USER_INPUT', `events must be one or more of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    }
    const description = checkDescription(args.description);
    const now = this.deps.now();
    const webhook: Webhook = {
      id: newId('webhook'),
      url,
      events: events as WebhookEventType[],
      description,
      secret: newId('webhookSecret'),
      createdAt: now,
      createdByName: actor.name,
      deletedAt: null,
    };
    await this.deps.store.transaction(async (tx) => {
      await tx.webhooks.insert(webhook);
      await tx.audit.append(
        auditEvent(actor, 'webhook.create', 'SUCCESS', {
          at: now,
          metadata: { webhookId: webhook.id, url, events, description },
        }),
      );
    });
    return { webhook: view(webhook), secret: webhook.secret };
  }

  async list(actor: Actor): Promise<WebhookView[]> {
    requireAdmin(actor);
    return (await this.deps.store.webhooks.listActive()).map(view);
  }

  /** Deletes it: no new deliveries; pending ones end as FAILED ("webhook deleted") on their next try. */
  async delete(actor: Actor, id: string): Promise<WebhookView> {
    requireAdmin(actor);
    const now = this.deps.now();
    const deleted = await this.deps.store.transaction(async (tx) => {
      if (!(await tx.webhooks.markDeleted(id, now))) return null;
      const w = await tx.webhooks.findById(id);
      await tx.audit.append(
        auditEvent(actor, 'webhook.delete', 'SUCCESS', { at: now, metadata: { webhookId: id, url: w?.url ?? null } }),
      );
      return w;
    });
    if (!deleted) throw new DomainError('WEBHOOK_NOT_FOUND', 'Webhook not found or already deleted');
    return view(deleted);
  }

  async deliveries(actor: Actor, webhookId: string, first: number | null | undefined): Promise<DeliveryView[]> {
    requireAdmin(actor);
    const n = first ?? 50;
    if (!Number.isInteger(n) || n < 1 || n > MAX_DELIVERIES)
      throw new DomainError('BAD_USER_INPUT', `first must be an integer from 1 to ${MAX_DELIVERIES}`);
    const rows = await this.deps.store.webhooks.listDeliveries(webhookId, n);
    const attempts = await this.deps.store.webhooks.listAttempts(rows.map((d) => d.id));
    return rows.map((d) => ({ ...d, attemptLog: attempts.filter((a) => a.deliveryId === d.id) }));
  }
}
