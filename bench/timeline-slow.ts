/**
 * What the slowest timed requests of a fleet run met: `node --import tsx bench/timeline-slow.ts <dir>
 * [pg-log]` over a `BENCH_REPLICA_TIMELINE=<dir>` run's files (machine-*.json from the benchmark,
 * timeline-<pid>.json from each replica). For each size's pages and disconnects, the slowest 1% (and,
 * for comparison, all of them): the time the replica held the request, its statements' round trips, the
 * replica's event-loop stalls over the request (and the process CPU within them: near the stall's length,
 * the replica ran a long slice; well under it, it waited for a core), its GC, the bus messages it took
 * meanwhile, the other replica's stalls, and the CPU of the machine and of each part of the fleet over the
 * request. With the PostgreSQL server's log, its lines inside each slow request (slow statements,
 * checkpoints, autovacuum).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

type Row = [string, number, number];
interface Timeline {
  req: Row[];
  stall: [number, number, number][];
  gc: [number, number, number, number][];
  stmt: Row[];
  msg: Row[];
}
interface AgentsTimeline {
  stall: [number, number, number][];
  snapshot: [number, number][];
  disconnect: [number, number][];
}
interface Machine {
  columns: string[];
  requests: [string, number, number, number][];
  samples: number[][];
  stalls: [number, number][];
  topProcesses?: [string, number][];
}

const [dir, pgLog] = process.argv.slice(2);
if (!dir) throw new Error('usage: timeline-slow.ts <dir> [pg-log]');
const files = readdirSync(dir);
const timelines = new Map<number, Timeline>(
  files
    .filter((f) => /^timeline-\d+\.json$/.test(f))
    .map((f) => [Number(/\d+/.exec(f)![0]), JSON.parse(readFileSync(join(dir, f), 'utf8')) as Timeline]),
);
/** The server's log's last 256 MB (a shared server's log outgrows what one string may hold). */
function logTail(file: string): string {
  const size = statSync(file).size;
  const length = Math.min(size, 256 * 2 ** 20);
  const buf = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  readSync(fd, buf, 0, length, size - length);
  closeSync(fd);
  return buf.toString('utf8');
}
const logLines = pgLog
  ? logTail(pgLog)
      .split('\n')
      .map((l) => [Date.parse(l.slice(0, 23).replace(' ', 'T') + 'Z'), l] as const)
      .filter(([t]) => Number.isFinite(t))
  : [];

const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
const r1 = (x: number) => Math.round(x * 10) / 10;

for (const f of files.filter((f) => f.startsWith('machine-'))) {
  const m = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Machine;
  const replicaPids = m.columns.filter((c) => c.startsWith('replica ')).map((c) => Number(c.split(' ')[2]));
  // Each replica's timeline: by its pid, or by the pages it answered (page i goes to replica i % 2).
  const tl = replicaPids.map(
    (p, i) =>
      timelines.get(p) ??
      [...timelines.values()].find((t) => t.req.some(([id]) => id === `p${i}` || id === `p${i + 2}`)),
  );
  if (tl.some((t) => !t)) {
    console.log(`${f}: no timeline of a replica (${replicaPids.join(', ')})`);
    continue;
  }
  const cpuOver = (t0: number, t1: number) => {
    // Samples every 50 ms: the CPU between the last sample before t0 and the first after t1, per second.
    const i0 = Math.max(0, m.samples.findIndex((s) => s[0]! > t0) - 1);
    let i1 = m.samples.findIndex((s) => s[0]! >= t1);
    if (i1 < 0) i1 = m.samples.length - 1;
    const a = m.samples[i0]!;
    const b = m.samples[i1]!;
    const span = b[0]! - a[0]!;
    // A process gone between the two samples reads 0: its share counts as nothing, not as negative.
    const per = (k: number) => (span > 0 && b[k]! >= a[k]! ? ((b[k]! - a[k]!) / span) * 1000 : 0);
    const by = (prefix: string) => m.columns.reduce((n, c, k) => (k >= 1 && c.startsWith(prefix) ? n + per(k) : n), 0);
    const machine = per(1);
    const fleet = by('replica') + by('agents') + by('postgres') + by('nats') + by('bench');
    return {
      span,
      machine,
      replicas: by('replica'),
      postgres: by('postgres'),
      agents: by('agents'),
      nats: by('nats'),
      bench: by('bench'),
      outside: machine - fleet,
    };
  };
  const label = f.replace(/^machine-|\.json$/g, '');
  if (m.topProcesses) {
    console.log(`\n== ${label}: the machine's busiest processes over the window (CPU ms)`);
    for (const [p, ms] of m.topProcesses) console.log(`${String(ms).padStart(7)} ${p}`);
  }
  // The agents processes' own timelines (stalls, periodic snapshots, disconnects served), merged.
  const agents = files
    .filter((a) => a.startsWith(`agents-${label}-`))
    .map((a) => JSON.parse(readFileSync(join(dir, a), 'utf8')) as AgentsTimeline)
    .reduce<AgentsTimeline>(
      (x, y) => ({
        stall: [...x.stall, ...y.stall],
        snapshot: [...x.snapshot, ...y.snapshot],
        disconnect: [...x.disconnect, ...y.disconnect],
      }),
      { stall: [], snapshot: [], disconnect: [] },
    );
  for (const kind of ['p', 'd']) {
    const reqs = m.requests.filter(([id]) => id.startsWith(kind));
    const sorted = [...reqs].sort((a, b) => b[3] - a[3]);
    const slow = sorted.slice(0, Math.ceil(reqs.length / 100) + 1);
    const describe = ([id, replica, t0, ms]: [string, number, number, number]) => {
      const t1 = t0 + ms;
      const me = tl[replica]!;
      const other = tl[1 - replica]!;
      const server = me.req.find((r) => r[0] === id);
      const stmts = me.stmt.filter((s) => s[1] >= (server?.[1] ?? t0) && s[1] <= (server?.[2] ?? t1));
      const stall = me.stall.filter((s) => overlap(s[0], s[1], t0, t1) > 0);
      const stallMs = stall.reduce((n, s) => n + overlap(s[0], s[1], t0, t1), 0);
      const stallCpu = stall.reduce((n, s) => n + s[2], 0);
      const otherStall = other.stall.reduce((n, s) => n + overlap(s[0], s[1], t0, t1), 0);
      const gcMs = me.gc.reduce((n, g) => n + overlap(g[0], g[0] + g[1], t0, t1), 0);
      const msgs = new Map<string, number>();
      for (const x of me.msg) if (x[1] >= t0 - 20 && x[1] <= t1) msgs.set(x[0], (msgs.get(x[0]) ?? 0) + 1);
      const c = cpuOver(t0, t1);
      return {
        id,
        replica,
        ms,
        server: server ? r1(server[2] - server[1]) : null,
        before: server ? r1(server[1] - t0) : null,
        stmts: stmts.map((s) => `${s[0].slice(0, 28)} ${r1(s[2] - s[1])}`),
        stmtMs: r1(stmts.reduce((n, s) => n + s[2] - s[1], 0)),
        stallMs: r1(stallMs),
        stallCpu: r1(stallCpu),
        longestStall: r1(Math.max(0, ...stall.map((s) => s[1] - s[0]))),
        otherStall: r1(otherStall),
        gcMs: r1(gcMs),
        agentsStall: r1(agents.stall.reduce((n, s) => n + overlap(s[0], s[1], t0, t1), 0)),
        agentsSnapshots: agents.snapshot.filter((x) => overlap(x[0] - 20, x[1], t0, t1) > 0).length,
        agentsDisconnect: r1(
          agents.disconnect.filter((x) => x[0] >= t0 && x[1] <= t1).reduce((n, x) => n + x[1] - x[0], 0),
        ),
        benchStall: r1(m.stalls.reduce((n, s) => n + overlap(s[0], s[0] + s[1], t0, t1), 0)),
        msgs: Object.fromEntries(msgs),
        cpuMsPerS: Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Math.round(v)])),
        pg: logLines
          .filter(([t]) => t >= t0 - 1000 && t <= t1 + 50)
          .map(([, l]) => l.slice(11, 160))
          .slice(0, 6),
      };
    };
    const all = reqs.map(describe);
    const mean = (
      xs: ReturnType<typeof describe>[],
      k: 'ms' | 'server' | 'stmtMs' | 'stallMs' | 'gcMs' | 'otherStall' | 'agentsStall' | 'benchStall',
    ) => r1(xs.reduce((n, x) => n + (x[k] ?? 0), 0) / xs.length);
    const meanCpu = (xs: ReturnType<typeof describe>[], k: string) =>
      Math.round(xs.reduce((n, x) => n + (x.cpuMsPerS[k] ?? 0), 0) / xs.length);
    const slowD = slow.map(describe);
    console.log(`\n== ${label} ${kind === 'p' ? 'pages' : 'disconnects'}: ${reqs.length}`);
    for (const [name, xs] of [
      ['all', all],
      ['slowest', slowD],
    ] as const)
      console.log(
        `${name}: ms ${mean(xs, 'ms')}, server ${mean(xs, 'server')}, stmts ${mean(xs, 'stmtMs')}, stall ${mean(xs, 'stallMs')}, gc ${mean(xs, 'gcMs')}, other replica stall ${mean(xs, 'otherStall')}, agents stall ${mean(xs, 'agentsStall')}, bench stall ${mean(xs, 'benchStall')}; cpu ms/s machine ${meanCpu(xs, 'machine')} replicas ${meanCpu(xs, 'replicas')} pg ${meanCpu(xs, 'postgres')} agents ${meanCpu(xs, 'agents')} nats ${meanCpu(xs, 'nats')} bench ${meanCpu(xs, 'bench')} outside ${meanCpu(xs, 'outside')}`,
      );
    for (const d of slowD) console.log(JSON.stringify(d));
  }
}
