/**
 * The authorizer's hold on CONNECTs until the control plane's first block list, as a state machine
 * (the commands it would write are recorded). The same behaviour against a real daemon is in
 * openvpn-adapter-lifecycle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../domain/logger.js';
import type { GatewayMode } from '../../domain/gateway.js';
import { ClientAuthorizer } from './client-authorizer.js';
import type { Notification } from './notification-parser.js';

type ClientNotification = Extract<Notification, { kind: 'client' }>;

function authorizer(mode: GatewayMode = 'authorize', listWaitMs?: number) {
  const sent: string[] = [];
  const a = new ClientAuthorizer({
    gatewayId: 'gw',
    mode,
    identity: 'certificate',
    logger: silentLogger,
    listWaitMs,
    command: (text) => {
      sent.push(text);
      return Promise.resolve({ ok: true, message: 'SUCCESS', lines: [] });
    },
  });
  return { a, sent };
}

const connect = (cid: number, user: string, event: 'CONNECT' | 'REAUTH' = 'CONNECT'): ClientNotification => ({
  kind: 'client',
  event,
  cid,
  kid: event === 'CONNECT' ? 0 : 1,
  env: { common_name: user },
});

const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('a CONNECT before the first block list is held, then answered from the list', async () => {
  const { a, sent } = authorizer();
  await a.answer(connect(0, 'mallory'));
  await a.answer(connect(1, 'nina'));
  await turns();
  assert.deepEqual(sent, [], 'nothing answered before the list');
  a.setBlocks([{ userName: 'mallory', until: Date.now() + 60_000 }]);
  await turns();
  assert.equal(sent.length, 2);
  assert.match(sent[0]!, /^client-deny 0 0 /);
  assert.equal(sent[1], 'client-auth-nt 1 0');
  await a.answer(connect(2, 'oscar'));
  assert.equal(sent[2], 'client-auth-nt 2 0', 'after the list, answered at once');
  a.stop();
});

test('a REAUTH (a session already admitted) is answered at once, list or not', async () => {
  const { a, sent } = authorizer();
  await a.answer(connect(3, 'nina', 'REAUTH'));
  assert.deepEqual(sent, ['client-auth-nt 3 1']);
  a.stop();
});

test('observe mode holds nothing', async () => {
  const { a, sent } = authorizer('observe');
  await a.answer(connect(0, 'nina'));
  assert.deepEqual(sent, ['client-auth-nt 0 0']);
});

test('held CONNECTs are dropped when the link goes down: a Client ID is not answered on a later link', async () => {
  const { a, sent } = authorizer();
  await a.answer(connect(0, 'nina'));
  a.linkDown();
  a.setBlocks([]);
  await turns();
  assert.deepEqual(sent, [], 'the old client 0 is not answered on the new link');
  await a.answer(connect(0, 'mallory'));
  assert.deepEqual(sent, ['client-auth-nt 0 0'], 'the new link’s client 0 is answered for itself');
  a.stop();
});

test('no list within the wait: held CONNECTs are answered from what is known, and later ones at once', async () => {
  const { a, sent } = authorizer('authorize', 50);
  await a.answer(connect(0, 'nina'));
  assert.deepEqual(sent, []);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(sent, ['client-auth-nt 0 0']);
  await a.answer(connect(1, 'oscar'));
  assert.deepEqual(sent, ['client-auth-nt 0 0', 'client-auth-nt 1 0']);
  a.stop();
});

test('authorize mode: a user name too long to record is denied, not admitted into a session the record cannot hold', async () => {
  const { a, sent } = authorizer();
  a.setBlocks([]);
  await a.answer(connect(5, 'u'.repeat(512)));
  await a.answer(connect(6, 'u'.repeat(513)));
  assert.equal(sent[0], 'client-auth-nt 5 0');
  assert.match(sent[1]!, /^client-deny 6 0 "user name longer than 512 characters" "User name longer than 512/);
  a.stop();
});
