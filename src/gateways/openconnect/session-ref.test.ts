import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSessionRef, sameTunnel, sessionRef } from './session-ref.js';

test("the ref is the worker pid and the session's safe id, and reads back", () => {
  const ref = sessionRef({ id: 4242, safeId: 'r19iEhajdKCCN3bYUcEZpwG2hx4=' });
  assert.equal(ref, '4242:r19iEhajdKCCN3bYUcEZpwG2hx4=');
  assert.deepEqual(parseSessionRef(ref), { pid: 4242, safeId: 'r19iEhajdKCCN3bYUcEZpwG2hx4=' });
  for (const bad of [
    '',
    '4242',
    '0:r19iEhajdKCCN3bYUcEZpwG2hx4=',
    '12:ab',
    'x:r19iEhajdKCCN3bYUcEZpwG2hx4=',
    '1:has space',
    '1700000000:4',
  ]) {
    assert.equal(parseSessionRef(bad), null, bad);
  }
});

test('a reused pid with another session is another tunnel', () => {
  const ref = parseSessionRef('4242:r19iEhajdKCCN3bYUcEZpwG2hx4=')!;
  assert.equal(sameTunnel(ref, { id: 4242, safeId: 'r19iEhajdKCCN3bYUcEZpwG2hx4=' }), true);
  assert.equal(sameTunnel(ref, { id: 4242, safeId: 'zoqokc4N2UcgOgGZeqyurjJeAyw=' }), false);
  assert.equal(sameTunnel(ref, { id: 4243, safeId: 'r19iEhajdKCCN3bYUcEZpwG2hx4=' }), false);
});
