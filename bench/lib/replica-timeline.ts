/**
 * Preload for a replica (`node --import tsx --import ./bench/lib/replica-timeline.ts …`, set by the fleet
 * benchmark when `BENCH_REPLICA_TIMELINE=<dir>`): a timestamped record of what the replica did, to
 * attribute each slow timed request to what ran at that moment. Times are epoch ms (`timeOrigin + now`),
 * so they line up with the benchmark's own record of its requests and its CPU samples of the machine.
 * Recorded between the first two SIGUSR2 (the benchmark's timed window), written to
 * `<dir>/timeline-<pid>.json` at the second:
 * - `req`: each HTTP request, from its `request` event to its answer's `finish`, with the benchmark's
 *   `x-bench-id` header;
 * - `stall`: each late tick of a 2 ms timer (late by 3 ms or more), with the process CPU over the gap:
 *   CPU near the gap means the replica ran a long slice; CPU well under it means it waited for a core;
 * - `gc`: each garbage collection (PerformanceObserver 'gc'), start, duration, kind and flags (4: forced);
 * - `heap`: the heap used and reserved (MB) every second;
 * - `stmt`: each PostgreSQL statement (pg's `Client.query`), submit to result, by its first words;
 * - `msg`: each bus message taken (NatsBus.deliver) with its kind and the synchronous part of its handling.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import pg from 'pg';

const dir = process.env.BENCH_REPLICA_TIMELINE;
if (dir) {
  const at = () => performance.timeOrigin + performance.now();
  const round = (t: number) => Math.round(t * 100) / 100;
  let on = false;
  const req: [string, number, number][] = [];
  const stall: [number, number, number][] = [];
  const gc: [number, number, number, number][] = [];
  const heap: [number, number, number][] = [];
  const stmt: [string, number, number][] = [];
  const msg: [string, number, number][] = [];

  // Stalls: a 2 ms timer's late ticks, with the CPU the process took meanwhile.
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    if (on && now - last >= 5) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stall.push([round(performance.timeOrigin + last), round(performance.timeOrigin + now), round(cpuMs)]);
    }
    last = now;
    lastCpu = cpu;
  }, 2).unref();

  new PerformanceObserver((list) => {
    if (!on) return;
    for (const e of list.getEntries()) {
      const detail = (e as unknown as { detail?: { kind?: number; flags?: number } }).detail;
      gc.push([round(performance.timeOrigin + e.startTime), round(e.duration), detail?.kind ?? 0, detail?.flags ?? 0]);
    }
  }).observe({ entryTypes: ['gc'] });

  const client = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = client.query;
  client.query = function (this: unknown, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
    const t0 = at();
    const result = original.apply(this, args);
    if (on && text !== undefined && result instanceof Promise) {
      const key = text.replace(/\s+/g, ' ').slice(0, 60);
      const record = () => void stmt.push([key, round(t0), round(at())]);
      result.then(record, record);
    }
    return result;
  };

  const emit = http.Server.prototype.emit as (this: http.Server, event: string, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'request' && on) {
      const t0 = at();
      const id = String((args[0] as http.IncomingMessage).headers['x-bench-id'] ?? '');
      (args[1] as http.ServerResponse).once('finish', () => void req.push([id, round(t0), round(at())]));
    }
    return emit.call(this, event, ...args);
  } as typeof http.Server.prototype.emit;

  const reportType = (data: Uint8Array) => {
    const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 400)).toString('latin1');
    return /"type":"([^"]+)"/.exec(head)?.[1] ?? 'report';
  };
  void import(new URL('../../dist/bus/nats/nats-bus.js', import.meta.url).href).then(
    (m: Record<string, { prototype: object }>) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const proto = m.NatsBus!.prototype as Record<string, (...a: any[]) => unknown>;
      const deliver = proto.deliver!;
      proto.deliver = function (this: unknown, m: { subject: string; data: Uint8Array }, ...rest: unknown[]) {
        if (!on) return deliver.call(this, m, ...rest);
        const t0 = at();
        try {
          return deliver.call(this, m, ...rest);
        } finally {
          const kind = m.subject.endsWith('.report') ? reportType(m.data) : `bus ${m.subject.split('.').at(-1)}`;
          msg.push([kind, round(t0), round(at())]);
        }
      };
    },
  );

  setInterval(() => {
    if (!on) return;
    const h = getHeapStatistics();
    heap.push([Math.round(at()), Math.round(h.used_heap_size / 2 ** 20), Math.round(h.total_heap_size / 2 ** 20)]);
  }, 1000).unref();

  let signals = 0;
  process.on('SIGUSR2', () => {
    signals++;
    if (signals === 1) {
      on = true;
      last = performance.now();
      lastCpu = process.cpuUsage();
    } else if (signals === 2) {
      on = false;
      writeFileSync(join(dir, `timeline-${process.pid}.json`), JSON.stringify({ req, stall, gc, heap, stmt, msg }));
    }
  });
}
