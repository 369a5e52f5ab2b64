/**
 * A failed delivery's error never names the webhook's URL, on SQLite and on PostgreSQL: fetch puts
 * the whole URL in some of its errors (a URL with user:password, from a webhook created before such
 * URLs were refused), and the error is logged and kept in the delivery's attempts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bothStores } from '../../test/support/postgres.js';
import { waitFor } from '../../test/support/wait.js';
import { newId } from '../domain/ids.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import { openStore } from '../store/kysely/kysely-store.js';
import { WebhookDispatcher, withoutUrl } from './webhook-dispatcher.js';
import { pendingDelivery } from './webhook-outbox.js';

const STORES = await bothStores();

test('withoutUrl takes out every copy of the URL and nothing else', () => {
  const url = 'https://u:p@example.com/h?t=1';
  assert.equal(withoutUrl(`bad ${url} and ${url}.`, url), 'bad <the webhook URL> and <the webhook URL>.');
  assert.equal(withoutUrl('HTTP 500', url), 'HTTP 500');
});

for (const s of STORES) {
  describe(`a webhook URL with credentials stays out of logs and attempts (${s.name})`, { skip: s.skip }, () => {
    test('the attempt fails; its error, as recorded and as logged, does not hold the password', async () => {
      const db = await s.open();
      const store = await openStore(db.url);
      const lines: string[] = [];
      const record = (obj: object, msg = '') => void lines.push(`${msg} ${JSON.stringify(obj)}`);
      const logger: Logger = { ...silentLogger, warn: record, error: record, child: () => logger };
      const dispatcher = new WebhookDispatcher({ store, logger, options: { pollMs: 20 } });
      try {
        const now = Date.now();
        // As stored by a release that still accepted such URLs (createWebhook now refuses them).
        const webhookId = newId('webhook');
        await store.webhooks.insert({
          id: webhookId,
          url: 'https://ops:hunter2@127.0.0.1:9/hook?key=s3cret',
          events: ['session.connected'],
          description: null,
          secret: 'whsec_test',
          createdAt: now,
          createdByName: 'old release',
          deletedAt: null,
        });
        const queued = pendingDelivery(webhookId, { id: 'evt_test', type: 'session.connected' }, '{}', now);
        const deliveryId = queued.id;
        await store.transaction((tx) => tx.webhooks.enqueue([queued]));
        dispatcher.start();
        await waitFor(async () => (await store.webhooks.listAttempts([deliveryId])).length > 0, 10_000, 'an attempt');
        await dispatcher.stop();
        const [attempt] = await store.webhooks.listAttempts([deliveryId]);
        assert.match(attempt!.error ?? '', /<the webhook URL>/, 'the error says which URL it was about');
        const [delivery] = await store.webhooks.listDeliveries(webhookId, 1);
        const kept = [attempt!.error, delivery!.lastError, ...lines].join('\n');
        assert.ok(lines.length > 0, 'the failure was logged');
        assert.doesNotMatch(kept, /hunter2|s3cret/);
      } finally {
        await dispatcher.stop();
        await store.close();
        await db.drop();
      }
    });
  });
}
