import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { describe, test, type TestContext } from 'node:test';
import { waitFor } from '../test/support/wait.js';
import { HeapRelease } from './heap-release.js';

const MiB = 2 ** 20;

/** A heap, an event loop and a clock under the test's control: `tick(ms)` runs the checks due in `ms`. */
function scripted(t: TestContext) {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const tick = (ms: number) => t.mock.timers.tick(ms);
  const state = { used: 100 * MiB, busy: 0, collected: 0 };
  const utilization = (previous?: EventLoopUtilization): EventLoopUtilization => ({
    idle: 0,
    active: 0,
    utilization: previous ? state.busy : 0,
  });
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
  return { state, release, tick };
}

describe('HeapRelease', () => {
  test('collects once the loop is idle and the heap grew past the threshold, and not again until it grows again', (t) => {
    const { state, release, tick } = scripted(t);
    release.start();
    try {
      state.used = 200 * MiB;
      state.busy = 0.9; // the burst is still running
      tick(60);
      assert.equal(state.collected, 0, 'never while the loop is busy');
      state.busy = 0.01;
      tick(60);
      assert.equal(state.collected, 1);
      tick(60);
      assert.equal(state.collected, 1, 'the live heap after the collection is the new floor');
      state.used = 110 * MiB + 47 * MiB;
      tick(60);
      assert.equal(state.collected, 1, 'growth under the threshold is left to V8');
      state.used = 110 * MiB + 49 * MiB;
      tick(60);
      assert.equal(state.collected, 2);
    } finally {
      release.stop();
    }
  });

  test("V8's own collections lower the floor", (t) => {
    const { state, release, tick } = scripted(t);
    release.start();
    try {
      state.used = 40 * MiB; // V8 collected by itself
      tick(40);
      state.used = 40 * MiB + 49 * MiB; // 89 MiB: below the starting 100 + 48, above the new floor + 48
      tick(60);
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
      await waitFor(() => release.collections > 0, 5000, 'a collection', 50);
      assert.ok(release.collections >= 1, 'a collection ran');
      const after = getHeapStatistics().used_heap_size;
      assert.ok(
        after < before + 8 * MiB,
        `heap back near where it was: ${(before / MiB).toFixed(0)} → ${(grown / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB`,
      );
    } finally {
      release.stop();
    }
  });
});
