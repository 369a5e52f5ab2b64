import assert from 'node:assert/strict';
import { test, mock } from 'node:test';
import { everyIntervalSpread } from './periodic.js';

test('the first run comes after half to one and a half intervals (by the random draw), then one every interval', () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    for (const [draw, first] of [
      [0, 500],
      [0.5, 1000],
      [0.999, 1499],
    ] as const) {
      const runs: number[] = [];
      let now = 0;
      const timers: NodeJS.Timeout[] = [];
      everyIntervalSpread(
        timers,
        1000,
        () => runs.push(now),
        () => draw,
      );
      for (now = 1; now <= first + 2000; now++) mock.timers.tick(1);
      assert.deepEqual(runs, [first, first + 1000, first + 2000], `draw ${draw}`);
      for (const t of timers) clearInterval(t);
    }
  } finally {
    mock.timers.reset();
  }
});

test('clearing the timers it pushed stops it, before and after its first run', () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    let runs = 0;
    /** Starts one (its first run at half an interval) and returns the timers that stop it. */
    const start = () => {
      const timers: NodeJS.Timeout[] = [];
      everyIntervalSpread(
        timers,
        1000,
        () => runs++,
        () => 0,
      );
      return timers;
    };
    const before = start();
    for (const t of before) clearInterval(t);
    mock.timers.tick(5000);
    assert.equal(runs, 0, 'stopped before the first run');

    const after = start();
    mock.timers.tick(500);
    assert.equal(runs, 1);
    for (const t of after) clearInterval(t);
    mock.timers.tick(5000);
    assert.equal(runs, 1, 'stopped after the first run');
  } finally {
    mock.timers.reset();
  }
});

test('gateways started together spread their periodic snapshots over the interval', () => {
  const firsts: number[] = [];
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    let now = 0;
    const timers: NodeJS.Timeout[] = [];
    for (let g = 0; g < 100; g++)
      everyIntervalSpread(
        timers,
        60_000,
        () => firsts.push(now),
        () => g / 100,
      );
    for (now = 1000; now <= 90_000; now += 1000) mock.timers.tick(1000);
    for (const t of timers) clearInterval(t);
  } finally {
    mock.timers.reset();
  }
  const firstRuns = firsts.slice(0, 100);
  const seconds = new Set(firstRuns.map((t) => Math.floor(t / 1000)));
  assert.ok(seconds.size >= 50, `first snapshots fall in ${seconds.size} different seconds, not one`);
});
