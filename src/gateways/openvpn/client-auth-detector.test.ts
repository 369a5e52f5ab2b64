import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientAuthDetector, capabilitiesOf } from './client-auth-detector.js';

const client = (event: 'CONNECT' | 'ESTABLISHED' | 'DISCONNECT', cid: number, env: Record<string, string> = {}) => ({
  kind: 'client' as const,
  event,
  cid,
  kid: event === 'CONNECT' ? 0 : null,
  env,
});

test('management-client-auth is learned from the notifications, not assumed', () => {
  const d = new ClientAuthDetector();
  d.linkUp(1_000_000_000);
  assert.equal(d.clientAuth, null);
  // Created before this link: its CONNECT may have gone to the previous one.
  assert.equal(d.observe(client('ESTABLISHED', 1, { time_unix: '1000000' })), false);
  assert.equal(d.clientAuth, null);
  assert.equal(d.observe(client('ESTABLISHED', 2, { time_unix: '1000001' })), true);
  assert.equal(d.clientAuth, false, 'established after the link came up, never asked');
  assert.equal(d.observe(client('CONNECT', 3)), true);
  assert.equal(d.clientAuth, true);
  assert.equal(d.observe(client('ESTABLISHED', 3, { time_unix: '1000002' })), false, 'asked first: nothing new');
  d.reset();
  assert.equal(d.clientAuth, null, 'a new daemon instance starts over');
  assert.equal(d.observe(client('DISCONNECT', 4)), true);
  assert.equal(d.clientAuth, true);
});

test('what each mode can do with what the daemon runs', () => {
  assert.deepEqual(capabilitiesOf('authorize', true), { canBlock: true, warning: null });
  assert.deepEqual(capabilitiesOf('authorize', null), { canBlock: true, warning: null });
  assert.equal(capabilitiesOf('authorize', false).canBlock, false);
  assert.match(capabilitiesOf('authorize', false).warning!, /does not run management-client-auth/);
  assert.deepEqual(capabilitiesOf('observe', null), { canBlock: false, warning: null });
  assert.equal(capabilitiesOf('observe', true).canBlock, false);
  assert.match(capabilitiesOf('observe', true).warning!, /mode is observe/);
});
