import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockList } from './block-list.js';

test('block list: blocks count down, never shorten, and undo', () => {
  let now = 1_000_000;
  const list = new BlockList(() => now);
  list.block('alice', 60);
  const undo = list.block('alice', 10);
  assert.equal(list.remainingSeconds('alice'), 60, 'a shorter block keeps the longer one');
  undo();
  assert.equal(list.remainingSeconds('alice'), 60);
  now += 59_500;
  assert.equal(list.remainingSeconds('alice'), 1);
  now += 500;
  assert.equal(list.remainingSeconds('alice'), 0);
});

test("block list: the control plane's list replaces it, except blocks set moments ago; lifted users go at once", () => {
  let now = 1_000_000;
  const list = new BlockList(() => now);
  list.block('fresh', 300);
  list.replace([
    { userName: 'stored', until: now + 60_000 },
    { userName: 'expired', until: now - 1 },
  ]);
  assert.equal(list.remainingSeconds('stored'), 60);
  assert.equal(list.remainingSeconds('expired'), 0);
  assert.equal(list.remainingSeconds('fresh'), 300, 'set by a disconnect whose commit the list may predate');
  list.replace([], ['stored']);
  assert.equal(list.remainingSeconds('stored'), 0, 'lifted');
  now += 31_000;
  list.replace([]);
  assert.equal(list.remainingSeconds('fresh'), 0, 'the store never got it: after the grace the list wins');
  list.block('again', 300);
  list.replace([], ['again']);
  assert.equal(list.remainingSeconds('again'), 0, 'a lift wins over a fresh local block');
});
