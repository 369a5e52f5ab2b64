import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ID_KINDS,
  isSessionId,
  newAuditEventId,
  newId,
  newOrderedId,
  newSessionId,
  newTokenSecret,
  newWebhookDeliveryId,
  TOKEN_SECRET_PATTERN,
  userIdFor,
  type IdKind,
} from './ids.js';
import { newIntentId } from './disconnect-intent.js';

test('every id kind has its own prefix, and a new id is that prefix and its number of [a-z0-9]', () => {
  const prefixes = Object.values(ID_KINDS).map((k) => k.prefix);
  assert.equal(new Set(prefixes).size, prefixes.length);
  for (const kind of Object.keys(ID_KINDS) as IdKind[]) {
    const { prefix, length } = ID_KINDS[kind];
    assert.match(newId(kind), new RegExp(`^${prefix}[a-z0-9]{${length}}$`), kind);
  }
});

test('an ordered id has the shape of its kind, sorts by its time and differs within one millisecond', () => {
  const t = Date.UTC(2026, 11, 6, 19, 0, 0);
  const ids = [newOrderedId('event', t), newOrderedId('event', t + 1), newOrderedId('event', t + 60_000)];
  for (const id of ids) assert.match(id, /^evt_[a-z0-9]{16}$/);
  assert.deepEqual([...ids].sort(), ids);
  const sameMs = new Set(Array.from({ length: 1000 }, () => newOrderedId('event', t)));
  assert.equal(sameMs.size, 1000);
  assert.match(newOrderedId('event'), /^evt_[a-z0-9]{16}$/);
});

test('audit event, disconnect intent and webhook delivery ids are ordered ids: the shape of their kind, later ones sort after', async () => {
  const first = [newAuditEventId(), newIntentId(), newWebhookDeliveryId()];
  await new Promise((resolve) => setTimeout(resolve, 3));
  const later = [newAuditEventId(), newIntentId(), newWebhookDeliveryId()];
  const shapes = [/^aud_[a-z0-9]{16}$/, /^din_[a-z0-9]{16}$/, /^whd_[a-z0-9]{16}$/];
  for (const [i, id] of [...first, ...later].entries()) assert.match(id, shapes[i % 3]!);
  assert.ok(first[0]! < later[0]!, 'audit event ids grow with time');
  assert.ok(first[1]! < later[1]!, 'disconnect intent ids grow with time');
  assert.ok(first[2]! < later[2]!, 'webhook delivery ids grow with time');
});

test("a session id has the seed's shape, a token secret the shape authentication accepts, a user id its prefix", () => {
  assert.match(newSessionId(), /^sess_[a-z0-9]{12}$/);
  assert.ok(isSessionId(newSessionId()));
  assert.ok(!isSessionId('sess_abc'));
  assert.match(newTokenSecret(), TOKEN_SECRET_PATTERN);
  assert.match(newTokenSecret(), /^sbt_[a-z0-9]{8}_[a-z0-9]{40}$/);
  assert.match(userIdFor('alice'), /^usr_[0-9a-f]{12}$/);
});
