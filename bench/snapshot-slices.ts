/**
 * One replica's sync applying 1,000-session snapshots over NATS on PostgreSQL: the longest stretch the
 * event loop was not served (a 1 ms timer's lateness) per snapshot, and the loop delay histogram.
 * `node --import tsx bench/snapshot-slices.ts [rounds]`
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { connectNatsBus } from '../src/bus/nats/nats-bus.js';
import { subjects } from '../src/bus/bus.js';
import { silentLogger } from '../src/domain/logger.js';
import { SessionSync } from '../src/core/sync/session-sync.js';
import { versioned, type GatewayReport } from '../src/core/reports.js';
import { openStore } from '../src/store/kysely/kysely-store.js';
import { createFreshPostgresDatabase } from '../test/support/postgres.js';
import { TEST_NATS_URL } from '../test/support/nats-server.js';

const rounds = Number(process.argv[2] ?? 8);
const N = 1_000;
const prefix = `slices${process.pid}`;
const db = await createFreshPostgresDatabase();
const store = await openStore(db.url);
const bus = await connectNatsBus({ url: TEST_NATS_URL, prefix });
const agentBus = await connectNatsBus({ url: TEST_NATS_URL, prefix });
const sync = new SessionSync({ store, bus, logger: silentLogger });
sync.start();

let seq = 0;
const t0 = Date.now();
const snapshot = (round: number): GatewayReport => ({
  type: 'snapshot',
  gatewayId: 'gw-slices',
  agentId: 'agent-1',
  seq: ++seq,
  at: t0 + round * 61_000,
  gateway: { name: 'gw', region: 'r', protocol: 'openvpn', mode: 'observe' },
  daemonStartedAt: t0 - 1000,
  sessions: Array.from({ length: N }, (_, i) => ({
    ref: `ref-${i}-${'x'.repeat(20)}`,
    userName: `user-${i}@example.com`,
    commonName: `user-${i}`,
    clientAddress: `10.1.${i >> 8}.${i & 255}:5${i % 1000}`,
    virtualAddress: `10.8.${i >> 8}.${i & 255}`,
    virtualAddress6: null,
    connectedAt: t0 - 5000,
    bytesReceived: 1000 * round + i,
    bytesSent: 2000 * round + i,
    clientVersion: '2.6.8',
    clientPlatform: 'linux',
    transport: 'UDP',
  })),
});

const loop = monitorEventLoopDelay({ resolution: 1 });
// Garbage collections during the refresh rounds, by kind: count, total and longest pause.
const gcs = new Map<string, { n: number; total: number; max: number }>();
let watchGc = false;
new PerformanceObserver((list) => {
  if (!watchGc) return;
  for (const e of list.getEntries()) {
    const kind =
      { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' }[
        (e as unknown as { detail: { kind: number } }).detail.kind
      ] ?? 'other';
    const g = gcs.get(kind) ?? { n: 0, total: 0, max: 0 };
    g.n++;
    g.total += e.duration;
    g.max = Math.max(g.max, e.duration);
    gcs.set(kind, g);
  }
}).observe({ entryTypes: ['gc'] });
// SLICES_PROF=<file>: a CPU profile of the rounds after the first five (bench/profile-slices.ts reads it).
const profFile = process.env.SLICES_PROF;
const inspector = profFile ? new Session() : null;
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    inspector!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
  );
if (inspector) {
  inspector.connect();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
}
const gaps: number[] = [];
const cpuGaps: number[] = [];
for (let round = 0; round < rounds; round++) {
  if (inspector && round === 5) await post('Profiler.start');
  watchGc = round > 0;
  const report = snapshot(round);
  let last = performance.now();
  let worst = 0;
  // The CPU time between two ticks: a slice's own length, whatever other processes took of the core.
  let lastCpu = process.cpuUsage();
  let worstCpu = 0;
  let on = true;
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    const c = process.cpuUsage(lastCpu);
    worstCpu = Math.max(worstCpu, (c.user + c.system) / 1000);
    lastCpu = process.cpuUsage();
    if (on) setTimeout(tick, 1);
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  // Encoded before the watch starts: the agent's work is not the replica's.
  await agentBus.publish(subjects.gatewayReport('gw-slices'), versioned(report));
  last = performance.now();
  lastCpu = process.cpuUsage();
  setTimeout(tick, 1);
  if (round > 0) loop.enable();
  // Until applied: the store's last_seen_at of one session says so.
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    await sync.idle();
    const last = await store.sessions.findByRef('gw-slices', `ref-${N - 1}-${'x'.repeat(20)}`);
    if (last?.bytesReceived === 1000 * round + N - 1) break;
  }
  const took = performance.now() - started;
  const used = process.cpuUsage(cpu);
  on = false;
  loop.disable();
  if (round > 0) gaps.push(worst);
  if (round > 0) cpuGaps.push(worstCpu);
  console.log(
    `round ${round}: applied in ${took.toFixed(0)} ms, cpu ${((used.user + used.system) / 1000).toFixed(0)} ms, longest slice ${worst.toFixed(1)} ms (cpu ${worstCpu.toFixed(1)} ms)`,
  );
}
if (inspector) {
  const { profile } = (await post('Profiler.stop')) as { profile: unknown };
  writeFileSync(profFile!, JSON.stringify(profile));
}
gaps.sort((a, b) => a - b);
cpuGaps.sort((a, b) => a - b);
const ms = (ns: number) => (ns / 1e6).toFixed(1);
console.log(
  `refresh rounds: longest slice median ${gaps[Math.floor(gaps.length / 2)]!.toFixed(1)} ms, max ${gaps.at(-1)!.toFixed(1)} ms; its cpu median ${cpuGaps[Math.floor(cpuGaps.length / 2)]!.toFixed(1)} max ${cpuGaps.at(-1)!.toFixed(1)} ms; loop delay p50 ${ms(loop.percentile(50))} p99 ${ms(loop.percentile(99))} max ${ms(loop.max)} ms`,
);
console.log(
  [...gcs].map(([k, g]) => `gc ${k}: ${g.n}, ${g.total.toFixed(0)} ms, longest ${g.max.toFixed(1)} ms`).join('; '),
);
sync.stop();
await agentBus.close();
await bus.close();
await store.close();
await db.drop();
