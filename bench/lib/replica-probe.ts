/**
 * Preload for a replica (`node --import tsx --import ./bench/lib/replica-probe.ts …`, set by the fleet
 * benchmark when `BENCH_REPLICA_PROBE=<dir>`): where a request's time goes on a busy replica. It
 * records the event loop's delay (`monitorEventLoopDelay`, 1 ms resolution) and the round trip of
 * every PostgreSQL statement (pg's `Client.query`, by the statement's first words), and on SIGUSR2
 * writes both as JSON to `<dir>/probe-<pid>-<n>.json` and starts over (the benchmark signals before
 * and after its timed requests, so the second file covers only them), with the process CPU of that window.
 * `BENCH_REPLICA_KINDS=1`: that CPU by the kind of message that caused it (replica-kinds.ts).
 * `BENCH_REPLICA_CPU_PROF=1`: a CPU profile of the window between the first two signals,
 * `<dir>/window-<pid>.cpuprofile` (bench/profile-top.ts and profile-slices.ts read it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import pg from 'pg';
import { startKindClock } from './replica-kinds.js';

const dir = process.env.BENCH_REPLICA_PROBE;
if (dir) {
  let loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const kinds =
    process.env.BENCH_REPLICA_KINDS === '1' ? startKindClock(new URL('../../dist/', import.meta.url)) : null;
  let windowFrom = performance.now();
  // BENCH_REPLICA_CPU_PROF=1: a CPU profile of the window between the first two signals (the timed requests).
  const profiler = process.env.BENCH_REPLICA_CPU_PROF === '1' ? new Session() : null;
  profiler?.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      profiler!.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r))),
    );
  let cpuFrom = process.cpuUsage();
  const stalls = stallClock();
  let queries = new Map<string, number[]>();
  const client = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = client.query;
  client.query = function (this: unknown, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
    const started = performance.now();
    const result = original.apply(this, args);
    if (text !== undefined && result instanceof Promise) {
      const key = text.replace(/\s+/g, ' ').slice(0, 90);
      const record = () => {
        const ms = performance.now() - started;
        const list = queries.get(key);
        if (list) list.push(ms);
        else queries.set(key, [ms]);
      };
      result.then(record, record);
    }
    return result;
  };
  let n = 0;
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  process.on('SIGUSR2', () => {
    if (profiler && n === 0)
      void post('Profiler.enable')
        .then(() => post('Profiler.setSamplingInterval', { interval: 250 }))
        .then(() => post('Profiler.start'));
    if (profiler && n === 1) {
      const file = join(dir, `window-${process.pid}.cpuprofile`);
      void post('Profiler.stop').then((r) => writeFileSync(file, JSON.stringify((r as { profile: unknown }).profile)));
    }
    const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
    const statements = [...queries]
      .map(([sql, xs]) => {
        xs.sort((a, b) => a - b);
        const total = xs.reduce((a, b) => a + b, 0);
        return { sql, n: xs.length, totalMs: Math.round(total), p50: pct(xs, 50), p99: pct(xs, 99), max: xs.at(-1) };
      })
      .sort((a, b) => b.totalMs - a.totalMs);
    const out = {
      loopDelayMs: {
        p50: ms(loop.percentile(50)),
        p90: ms(loop.percentile(90)),
        p99: ms(loop.percentile(99)),
        max: ms(loop.max),
        mean: ms(loop.mean),
      },
      stalledSharePct: stalls.share(),
      cpuMs: process.cpuUsage(),
      windowMs: Math.round(performance.now() - windowFrom),
      windowCpuMs: (({ user, system }) => ({ user: Math.round(user / 1000), system: Math.round(system / 1000) }))(
        process.cpuUsage(cpuFrom),
      ),
      ...(kinds ? { byKind: kinds.report(performance.now() - windowFrom) } : {}),
      statements,
    };
    writeFileSync(join(dir, `probe-${process.pid}-${n++}.json`), `${JSON.stringify(out, null, 1)}\n`);
    loop.disable();
    loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    stalls.reset();
    queries = new Map();
    windowFrom = performance.now();
    cpuFrom = process.cpuUsage();
  });
}

/**
 * The share of wall time the event loop spent in stalls of at least 10, 20 and 50 ms (a 5 ms timer's
 * lateness, whole stalls counted). The delay histogram counts a stall once however long it lasts: a
 * 200 ms stall is one sample among thousands of 1 ms ones, so its percentiles hide what a request
 * arriving at a random moment meets; this share is that chance.
 */
function stallClock() {
  const TICK_MS = 5;
  const AT_LEAST = [10, 20, 50];
  let since = performance.now();
  let last = since;
  let stalled = AT_LEAST.map(() => 0);
  setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    last = now;
    AT_LEAST.forEach((min, i) => {
      if (gap >= min) stalled[i]! += gap;
    });
  }, TICK_MS).unref();
  return {
    share: () => {
      const window = performance.now() - since;
      return Object.fromEntries(
        AT_LEAST.map((min, i) => [`>=${min}ms`, Math.round((10_000 * stalled[i]!) / window) / 100]),
      );
    },
    reset: () => {
      since = performance.now();
      stalled = AT_LEAST.map(() => 0);
    },
  };
}
