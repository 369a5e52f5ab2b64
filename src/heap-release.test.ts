import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { HeapRelease } from './heap-release.js';

const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A heap and an event loop under the test's control. */
function scripted() {
  const state = { used: 100 * MiB, busy: 0, collected: 0 };
  const utilization = (previous?: EventLoopUtilization): EventLoopUtilization => ({ idle: 0, active: 0, utilization: previous ? state.busy : 0 });
  const release = new HeapRelease({
    intervalMs: 10,
    growthBytes: 48 * MiB,
    collect: () => {
      state.collected++;
      state.used = 110 * MiB; // what is still live
    },
    heapUsed: () => state.used,
    utilization,
  });
  return { state, release };
}

describe('HeapRelease', () => {
  test('collects once the loop is idle and the heap grew past the threshold, and not again until it grows again', async () => {
    const { state, release } = scripted();
    release.start();
    try {
      state.used = 200 * MiB;
      state.busy = 0.9; // the burst is still running
      await sleep(60);
      assert.equal(state.collected, 0, 'never while the loop is busy');
      state.busy = 0.01;
      await sleep(60);
      assert.equal(state.collected, 1);
      await sleep(60);
      assert.equal(state.collected, 1, 'the live heap after the collection is the new floor');
      state.used = 110 * MiB + 47 * MiB;
      await sleep(60);
      assert.equal(state.collected, 1, 'growth under the threshold is left to V8');
      state.used = 110 * MiB + 49 * MiB;
      await sleep(60);
      assert.equal(state.collected, 2);
    } finally {
      release.stop();
    }
  });

  test("V8's own collections lower the floor", async () => {
    const { state, release } = scripted();
    release.start();
    try {
      state.used = 40 * MiB; // V8 collected by itself
      await sleep(40);
      state.used = 40 * MiB + 49 * MiB; // 89 MiB: below the starting 100 + 48, above the new floor + 48
      await sleep(60);
      assert.equal(state.collected, 1);
    } finally {
      release.stop();
    }
  });

  test('with the real V8 collector: the garbage of a burst is gone within moments of the loop going idle', async () => {
    const release = new HeapRelease({ intervalMs: 50, growthBytes: 16 * MiB });
    release.start();
    try {
      const before = getHeapStatistics().used_heap_size;
      let burst: { i: number; s: string }[] | null = [];
      for (let i = 0; i < 600_000; i++) burst.push({ i, s: `row ${i}` });
      const grown = getHeapStatistics().used_heap_size;
      assert.ok(grown - before > 16 * MiB, `the burst allocated ${((grown - before) / MiB).toFixed(0)} MiB`);
      burst = null;
      for (let waited = 0; release.collections === 0 && waited < 5000; waited += 50) await sleep(50);
      assert.ok(release.collections >= 1, 'a collection ran');
      const after = getHeapStatistics().used_heap_size;
      assert.ok(after < before + 8 * MiB, `heap back near where it was: ${(before / MiB).toFixed(0)} → ${(grown / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB`);
    } finally {
      release.stop();
    }
  });
});
