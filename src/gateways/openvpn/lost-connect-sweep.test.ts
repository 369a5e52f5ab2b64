/**
 * The sweep for CONNECTs nobody heard, as a state machine (status reads and notifications fed by
 * hand, the rescans and restarts it asks for recorded). The same against a real daemon is in
 * openvpn-adapter-lifecycle.test.ts ("clients that connected while no agent was linked").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LostConnectSweep } from './lost-connect-sweep.js';

function sweep(graceMs = 2_000) {
  let now = 1_000_000;
  const restarted: number[] = [];
  let rescans = 0;
  const s = new LostConnectSweep({
    graceMs,
    now: () => now,
    rescan: () => void rescans++,
    restart: (cid) => void restarted.push(cid),
  });
  return {
    s,
    restarted,
    rescans: () => rescans,
    later: (ms: number) => void (now += ms),
  };
}

test('a client listed without an address at link-up and never heard of is restarted after the grace, once', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { s, restarted, rescans, later } = sweep();
  s.linkUp();
  s.statusRead([3, 5]);
  assert.deepEqual(restarted, [], 'not at the first read');
  t.mock.timers.tick(2_000);
  assert.equal(rescans(), 1, 'a second read is asked for after the grace');
  later(2_000);
  s.statusRead([3, 5]);
  assert.deepEqual(restarted, [3, 5]);
  later(10_000);
  s.statusRead([3, 5]);
  assert.deepEqual(restarted, [3, 5], 'at most once per link');
});

test('a read before the grace is over restarts nothing; the next one after it does', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.statusRead([7]);
  later(1_999);
  s.statusRead([7]);
  assert.deepEqual(restarted, []);
  later(1);
  s.statusRead([7]);
  assert.deepEqual(restarted, [7]);
  s.forget();
});

test('a client heard of on this link (its CONNECT came, only late) is never restarted', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.heardOf(1); // its CONNECT came before the first read
  s.statusRead([1, 2, 4]);
  s.heardOf(2); // its CONNECT came within the grace (it was still in its TLS handshake)
  later(2_000);
  s.statusRead([1, 2, 4]);
  assert.deepEqual(restarted, [4]);
});

test('a suspect that got its address (an answered client that got established) is left alone', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.statusRead([8, 9]);
  later(2_500);
  s.statusRead([9]); // 8 now has a virtual address (or is gone)
  assert.deepEqual(restarted, [9]);
});

test('a client first listed after the link came up is not a suspect: its CONNECT comes to this link', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.statusRead([2]);
  later(2_000);
  s.statusRead([2, 11, 12]);
  assert.deepEqual(restarted, [2]);
});

test('nothing pending at link-up: no rescan, and nothing later is restarted', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { s, restarted, rescans, later } = sweep();
  s.linkUp();
  s.statusRead([]);
  t.mock.timers.tick(5_000);
  assert.equal(rescans(), 0);
  later(5_000);
  s.statusRead([13]);
  assert.deepEqual(restarted, []);
});

test('the link went down (or a soft restart) within the grace: nothing is restarted and no rescan runs', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { s, restarted, rescans, later } = sweep();
  s.linkUp();
  s.statusRead([4]);
  s.forget();
  t.mock.timers.tick(5_000);
  assert.equal(rescans(), 0);
  later(5_000);
  s.statusRead([4]);
  assert.deepEqual(restarted, []);
});

test('each link sweeps afresh: what was heard on an earlier link does not count', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.heardOf(6);
  s.statusRead([]);
  s.linkUp(); // the agent reconnected; the daemon's CONNECT for 6 (a new instance's 6) went to no one
  s.statusRead([6]);
  later(2_000);
  s.statusRead([6]);
  assert.deepEqual(restarted, [6]);
});

test('before any link (observe mode never links the sweep), status reads restart nothing', () => {
  const { s, restarted, later } = sweep();
  s.statusRead([1]);
  later(5_000);
  s.statusRead([1]);
  assert.deepEqual(restarted, []);
});

test('a CONNECT that comes for a restarted Client ID is marked so (left unanswered), until the link or instance changes', () => {
  const { s, restarted, later } = sweep();
  s.linkUp();
  s.statusRead([5, 6]);
  later(2_000);
  s.statusRead([5, 6]);
  assert.deepEqual(restarted, [5, 6]);
  assert.equal(s.restarted(5), true, 'its question crossed the kill');
  assert.equal(s.restarted(7), false, 'a client not restarted is answered');
  s.heardOf(5);
  assert.equal(s.restarted(5), true, 'still, once heard of');
  s.forget(); // a soft restart: Client IDs count from 0 again
  assert.equal(s.restarted(5), false, 'the new instance’s 5 is another client');
  s.linkUp();
  assert.equal(s.restarted(6), false);
});
