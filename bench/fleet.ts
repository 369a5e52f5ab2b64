/**
 * Benchmark 6, fleet scale: G gateways × S sessions over NATS, two `switchboard start` replicas on one
 * PostgreSQL database. The agents are simulated (bench/lib/fleet-agents.ts: the real AgentLink per
 * gateway, a stand-in daemon behind it), as few processes as the size needs, speaking the real wire
 * contract. Measured while every agent heartbeats, snapshots periodically and 1% of the sessions churn
 * per minute: `onlineSessions` page latency and single-session disconnect latency (HTTP, one at a time,
 * alternating the replicas), the replicas' RSS, and how long the store takes to match every gateway
 * again after both replicas were down while every gateway changed.
 *
 * Sizes: `BENCH_FLEET_SIZES` (e.g. `100x1000,1000x100,1000x1000`, gateways×sessions); a CPU
 * profile of each replica: `BENCH_CPU_PROF=<dir>` (as the other benchmarks); timed page and disconnect
 * pairs per size: `BENCH_FLEET_SAMPLES` (1,000); how long to wait for the reconcile after the restart before
 * failing: `BENCH_FLEET_RECONCILE_S` (600); where each replica's time goes during the timed requests (event-loop
 * delay, PostgreSQL statement round trips; bench/lib/replica-probe.ts): `BENCH_REPLICA_PROBE=<dir>`, with
 * `BENCH_REPLICA_KINDS=1` each replica's CPU by incoming message kind (bench/lib/replica-kinds.ts) and
 * `BENCH_REPLICA_CPU_PROF=1` a CPU profile of the timed window only; the probe also writes the CPU the
 * agents, this database's PostgreSQL backends and the NATS server took over that window. Untimed pairs
 * before the timed ones: `BENCH_FLEET_WARMUP_S` seconds (10). A timestamped record of the timed window
 * (each request, each replica's stalls, GC, statements and bus messages, the agents' and the machine's
 * CPU; bench/lib/replica-timeline.ts), for `bench/timeline-slow.ts` to say what each slow request met:
 * `BENCH_REPLICA_TIMELINE=<dir>`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { randomId } from '../src/domain/ids.js';
import { gql } from '../test/support/api-client.js';
import { natsSkipReason, TEST_NATS_URL } from '../test/support/nats-server.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../test/support/postgres.js';
import { SwitchboardProcess } from '../test/support/switchboard-process.js';
import { waitFor } from '../test/support/wait.js';
import type { FleetAgentsSpec, FleetCommand, FleetReply } from './lib/fleet-agents.js';
import type { BenchOptions, BenchResult, FigureRow, Goal } from './lib/result.js';
import { rssOf } from './lib/seeded-server.js';
import { round, summarize } from './lib/stats.js';
import { SESSIONS_QUERY } from './throughput.js';

const AGENTS = fileURLToPath(new URL('./lib/fleet-agents.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MB = 2 ** 20;
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
/** Sessions one agents process simulates at most (its heap holds every session report). */
const SESSIONS_PER_AGENTS_PROCESS = 500_000;
/** Set to a directory: each replica writes a CPU profile there (`--cpu-prof`). */
const profileDir = process.env.BENCH_CPU_PROF;
/** Set to a directory: each replica records its event-loop delay and statement times there (replica-probe.ts). */
const probeDir = process.env.BENCH_REPLICA_PROBE;
const PROBE = fileURLToPath(new URL('./lib/replica-probe.ts', import.meta.url));
/** Set to a directory: a timestamped record of each replica's and the machine's timed window (replica-timeline.ts). */
const timelineDir = process.env.BENCH_REPLICA_TIMELINE;
const TIMELINE = fileURLToPath(new URL('./lib/replica-timeline.ts', import.meta.url));
/** A replica writing its profile as it exits takes a while: SIGKILL would lose it. */
const STOP_GRACE_MS = profileDir ? 120_000 : 5_000;

interface Size {
  gateways: number;
  sessions: number;
}

/** One forked agents process, one command at a time. */
class FleetAgents {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exitKill: () => void,
  ) {}

  static start(): FleetAgents {
    const child = fork(AGENTS, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exitKill = () => child.kill('SIGKILL');
    process.once('exit', exitKill);
    return new FleetAgents(child, exitKill);
  }

  get pid(): number {
    return this.child.pid!;
  }

  ask<T extends FleetReply['type']>(command: FleetCommand, expect: T): Promise<Extract<FleetReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`fleet agents exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: FleetReply) => {
        this.child.removeListener('exit', onExit);
        if (m.type === expect) resolve(m as Extract<FleetReply, { type: T }>);
        else reject(new Error(`fleet agents: ${m.type === 'error' ? m.error : `unexpected ${m.type}`}`));
      });
      this.child.send(command);
    });
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.exitKill);
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.ask({ type: 'stop' }, 'stopped').catch(() => {});
    this.child.disconnect();
    await exited;
  }
}

/** Peak RSS of each watched process, sampled every 200 ms. */
class RssWatch {
  readonly peak = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly procs: () => [string, number][]) {
    this.timer = setInterval(() => this.sample(), 200);
  }
  sample(): Map<string, number> {
    const now = new Map<string, number>();
    for (const [name, pid] of this.procs()) {
      try {
        const rss = rssOf(pid);
        now.set(name, rss);
        this.peak.set(name, Math.max(rss, this.peak.get(name) ?? 0));
      } catch {
        // exited between listing and reading
      }
    }
    return now;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** CPU time (ms) of a process from /proc (user + system), or 0 once it is gone. */
function cpuMsOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** This database's PostgreSQL backends (but the caller's own) and the NATS server's processes. */
async function neighbourPids(sql: pg.Client): Promise<{ backends: number[]; nats: number[] }> {
  const backends = (
    await sql.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    )
  ).rows.map((r) => r.pid);
  const nats = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'nats-server';
      } catch {
        return false;
      }
    })
    .map(Number);
  return { backends, nats };
}

/** Busy CPU ms of all the machine's cores so far (/proc/stat, less idle and iowait). */
function machineBusyMs(): number {
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((all.reduce((a, b) => a + b, 0) - all[3]! - all[4]!) * 1000) / 100; // clock ticks at 100 Hz
}

/** CPU ms of every process of the machine, by pid and command line. */
function everyProcessCpu(): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 100);
      m.set(`${d} ${cmd}`, cpuMsOf(Number(d)));
    } catch {
      // exited between listing and reading
    }
  }
  return m;
}

/**
 * With BENCH_REPLICA_PROBE: the CPU the replicas' neighbours on the cores took over the timed window: the
 * agents processes, this database's PostgreSQL backends, the NATS server (shared with anything else using
 * it), and the whole machine (/proc/stat: busy ms of all cores).
 */
class CpuOfOthers {
  private from = new Map<string, number>();
  private t0 = 0;
  constructor(
    private readonly sql: pg.Client,
    private readonly agentPids: number[],
  ) {}
  private async sample(): Promise<Map<string, number>> {
    const { backends, nats } = await neighbourPids(this.sql);
    const m = new Map<string, number>([['machine busy', machineBusyMs()]]);
    for (const p of this.agentPids) m.set(`agents ${p}`, cpuMsOf(p));
    for (const p of backends) m.set(`postgres backend ${p}`, cpuMsOf(p));
    for (const p of nats) m.set(`nats-server ${p}`, cpuMsOf(p));
    return m;
  }
  async start(): Promise<void> {
    this.from = await this.sample();
    this.t0 = performance.now();
  }
  async write(file: string): Promise<void> {
    const to = await this.sample();
    const windowMs = performance.now() - this.t0;
    const delta = [...to].map(([k, v]) => [k, Math.round(v - (this.from.get(k) ?? v))] as const);
    const sum = (prefix: string) => delta.filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    const perS = (ms: number) => Math.round((ms / windowMs) * 1000);
    const out = {
      windowMs: Math.round(windowMs),
      cpuMsPerS: {
        machine: perS(sum('machine')),
        agents: perS(sum('agents')),
        postgresBackends: perS(sum('postgres')),
        natsServer: perS(sum('nats')),
      },
      each: Object.fromEntries(delta),
    };
    writeFileSync(file, `${JSON.stringify(out, null, 1)}\n`);
  }
}

/**
 * With BENCH_REPLICA_TIMELINE: the benchmark's side of the timeline (replica-timeline.ts writes the
 * replicas'): each timed request (epoch ms, the replica asked), the CPU every 50 ms of the machine and of
 * each process of the fleet (replicas, agents, this database's PostgreSQL backends, the NATS server), the
 * benchmark process's own event-loop stalls, and PostgreSQL's checkpoint and vacuum counters before and
 * after. The database logs its statements of 20 ms or more and its tables' autovacuum runs (set by
 * runSize; read from the server's log, `BENCH_PG_LOG`, by bench/timeline-slow.ts).
 */
class MachineTimeline {
  private readonly requests: [string, number, number, number][] = [];
  private readonly samples: number[][] = [];
  private readonly stalls: [number, number][] = [];
  private timer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private pgBefore: unknown;
  private processesBefore = new Map<string, number>();
  private constructor(
    private readonly sql: pg.Client,
    private readonly pids: [string, number][],
  ) {}

  private static readonly PG_COUNTERS = `select (select row_to_json(b) from pg_stat_bgwriter b) bgwriter,
     (select json_agg(json_build_object('t', relname, 'autovacuum', autovacuum_count, 'autoanalyze', autoanalyze_count,
       'lastAutovacuum', last_autovacuum, 'lastAutoanalyze', last_autoanalyze, 'dead', n_dead_tup))
        from pg_stat_user_tables) tables, now() at`;

  static async start(sql: pg.Client, replicas: SwitchboardProcess[], agents: FleetAgents[]): Promise<MachineTimeline> {
    const { backends, nats } = await neighbourPids(sql);
    const pids: [string, number][] = [
      ...replicas.filter((r) => r.running).map((r, i): [string, number] => [`replica ${i} ${r.pid}`, r.pid]),
      ['bench', process.pid],
      ...agents.map((a, i): [string, number] => [`agents ${i}`, a.pid]),
      ...backends.map((p): [string, number] => [`postgres ${p}`, p]),
      ...nats.map((p): [string, number] => [`nats ${p}`, p]),
    ];
    const t = new MachineTimeline(sql, pids);
    for (const table of ['sessions', 'gateways', 'events', 'audit_events'])
      await sql.query(`alter table ${table} set (log_autovacuum_min_duration = 0)`).catch(() => {});
    t.pgBefore = (await sql.query(MachineTimeline.PG_COUNTERS)).rows[0];
    t.timer = setInterval(() => {
      t.samples.push([
        Math.round(performance.timeOrigin + performance.now()),
        machineBusyMs(),
        ...pids.map(([, p]) => cpuMsOf(p)),
      ]);
    }, 50);
    let last = performance.now();
    t.processesBefore = everyProcessCpu();
    t.stallTimer = setInterval(() => {
      const now = performance.now();
      if (now - last >= 5) t.stalls.push([Math.round(performance.timeOrigin + last), Math.round(now - last)]);
      last = now;
    }, 2);
    return t;
  }

  request(id: string, replica: number, startedAt: number, ms: number): void {
    this.requests.push([
      id,
      replica,
      Math.round((performance.timeOrigin + startedAt) * 100) / 100,
      Math.round(ms * 100) / 100,
    ]);
  }

  async write(file: string): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.stallTimer);
    const pgAfter = (await this.sql.query(MachineTimeline.PG_COUNTERS)).rows[0];
    // The machine's 15 busiest processes over the window, ours or not (what "outside" was).
    const topProcesses = [...everyProcessCpu()]
      .map(([k, v]) => [k, Math.round(v - (this.processesBefore.get(k) ?? v))] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15);
    const columns = ['t', 'machine busy', ...this.pids.map(([n]) => n)];
    const { requests, samples, stalls, pgBefore } = this;
    writeFileSync(file, JSON.stringify({ columns, requests, samples, stalls, pgBefore, pgAfter, topProcesses }));
  }
}

interface SizeResult {
  size: Size;
  agentProcesses: number;
  ingestS: number;
  reads: number[];
  disconnects: number[];
  alreadyGone: number;
  failures: string[];
  restartListenS: number;
  reconcileS: number;
  rssPeakMb: number;
  rssSettledMb: number;
  agentsRssMb: number;
  churned: number;
}

async function runSize(
  size: Size,
  o: {
    smoke: boolean;
    log: (l: string) => void;
    samples: number;
    warmupS: number;
    warmupMaxPairs: number;
    heartbeatMs: number;
    snapshotIntervalMs: number;
  },
): Promise<SizeResult> {
  const { log } = o;
  const label = `${size.gateways}x${size.sessions}`;
  const run = randomId(6);
  const prefix = `fleet_${run}`;
  const total = size.gateways * size.sessions;
  const db = await createFreshPostgresDatabase();
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  // The timeline's: the database logs its statements of 20 ms or more (the replicas connect after this).
  if (timelineDir) {
    const name = pg.escapeIdentifier(String((await sql.query('select current_database() n')).rows[0].n));
    await sql.query(`alter database ${name} set log_min_duration_statement = 20`);
    // Lock waits of 10 ms or more, with who held the lock (checked for deadlock after as long).
    await sql.query(`alter database ${name} set log_lock_waits = on`);
    await sql.query(`alter database ${name} set deadlock_timeout = '10ms'`);
  }
  const replicas: SwitchboardProcess[] = [];
  const agents: FleetAgents[] = [];
  const watch = new RssWatch(() => [
    ...replicas.filter((r) => r.running).map((r): [string, number] => [r.name, r.pid]),
    ...agents.map((a, i): [string, number] => [`agents ${i}`, a.pid]),
  ]);
  const startReplica = (name: string) => {
    const p = SwitchboardProcess.start(
      name,
      ['start'],
      {
        SWITCHBOARD_PORT: '0',
        SWITCHBOARD_DATABASE_URL: db.url,
        SWITCHBOARD_NATS_URL: TEST_NATS_URL,
        SWITCHBOARD_NATS_PREFIX: prefix,
        SWITCHBOARD_LOG_LEVEL: 'warn',
      },
      // A CPU profile of each replica, written when it stops (bench/profile-top.ts summarises one).
      {
        nodeArgs: [
          ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          ...(probeDir || timelineDir ? ['--import', 'tsx'] : []),
          ...(probeDir ? ['--import', PROBE] : []),
          ...(timelineDir ? ['--import', TIMELINE] : []),
        ],
      },
    );
    replicas.push(p);
    return p;
  };
  const listening = async (p: SwitchboardProcess) =>
    (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 120_000))[1]!;
  const count = async (q: string, params: unknown[] = []) => Number((await sql.query(q, params)).rows[0].n);
  try {
    const a = startReplica('replica A');
    const admin = (await a.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m, 60_000))[1]!;
    let urls = [await listening(a), await listening(startReplica('replica B'))];

    // The fleet comes up: every agent's heartbeat and first snapshot, until the store lists every session.
    const processes = Math.max(1, Math.ceil(total / SESSIONS_PER_AGENTS_PROCESS));
    const ids = Array.from({ length: size.gateways }, (_, i) => `fl-${run}-${i}`);
    let t0 = performance.now();
    const started = await Promise.all(
      Array.from({ length: processes }, (_, p) => {
        const fa = FleetAgents.start();
        agents.push(fa);
        const spec: FleetAgentsSpec = {
          natsUrl: TEST_NATS_URL,
          prefix,
          gatewayIds: ids.filter((_, i) => i % processes === p),
          sessionsPerGateway: size.sessions,
          heartbeatMs: o.heartbeatMs,
          snapshotIntervalMs: o.snapshotIntervalMs,
        };
        return fa.ask({ type: 'start', spec }, 'started');
      }),
    );
    if (started.reduce((n, s) => n + s.sessions, 0) !== total)
      throw new Error(`${label}: agents do not hold ${total} sessions`);
    let online = 0;
    await waitFor(
      async () => (online = await count('select count(*) n from sessions where ended_at is null')) === total,
      o.smoke ? 60_000 : 1_800_000,
      () => `${label}: the store to list ${total} online sessions (has ${online})`,
      500,
    );
    const ingestS = (performance.now() - t0) / 1000;
    log(
      `fleet ${label}: ${total} sessions online in the store after ${ingestS.toFixed(1)} s (${processes} agents process(es))`,
    );
    const listed = (await gql(urls[0]!, admin, 'query { onlineSessions(first: 1) { totalCount } }')).json.data;
    if ((listed?.onlineSessions as { totalCount: number } | undefined)?.totalCount !== total)
      throw new Error(`${label}: the API does not count ${total} online sessions: ${JSON.stringify(listed)}`);

    // 1% of the sessions per minute leave and as many come.
    const churnPerS = (total * 0.01) / 60;
    const churn = (perSecond: number) =>
      Promise.all(agents.map((fa) => fa.ask({ type: 'churn', perSecond: perSecond / agents.length }, 'churning')));
    await churn(churnPerS);
    // Random online sessions to disconnect: the timed ones first, then those of the warm-up.
    const picked = (
      await sql.query<{ id: string }>('select id from sessions where ended_at is null order by random() limit $1', [
        o.samples + o.warmupMaxPairs,
      ])
    ).rows.map((r) => r.id);
    const targets = picked.slice(0, o.samples);
    const reads: number[] = [];
    const disconnects: number[] = [];
    const ended: string[] = [];
    let alreadyGone = 0;
    // A request that failed (say STORE_UNAVAILABLE): a smoke run stops on it, a full run counts it.
    const failures: string[] = [];
    const failed = (what: string, text: string) => {
      if (o.smoke) throw new Error(`${label}: ${what} failed: ${text.slice(0, 300)}`);
      failures.push(`${what}: ${text.slice(0, 200)}`);
      if (failures.length === 1) log(`fleet ${label}: ${what} failed: ${text.slice(0, 300)}`);
    };
    // One page from one replica, then one disconnect from the other; `timed` keeps their times.
    let machine: MachineTimeline | null = null;
    const pair = async (i: number, target: string, timed: boolean) => {
      const id = (kind: string) => (timed ? `${kind}${i}` : `w${kind}${i}`);
      let t = performance.now();
      const page = await gql(
        urls[i % 2]!,
        admin,
        SESSIONS_QUERY,
        { first: 50 },
        { headers: { 'x-bench-id': id('p') } },
      );
      const readMs = performance.now() - t;
      if (timed) machine?.request(id('p'), i % 2, t, readMs);
      if (
        page.status !== 200 ||
        page.json.errors ||
        (page.json.data?.onlineSessions as { edges: unknown[] }).edges.length !== 50
      )
        failed('page', page.text);
      else if (timed) reads.push(readMs);
      t = performance.now();
      const r = await gql(
        urls[(i + 1) % 2]!,
        admin,
        DISCONNECT,
        { id: target },
        { headers: { 'x-bench-id': id('d') } },
      );
      const ms = performance.now() - t;
      if (timed) machine?.request(id('d'), (i + 1) % 2, t, ms);
      if (r.json.data?.disconnectBySessionId === true) {
        if (timed) disconnects.push(ms);
        ended.push(target);
      } else if (r.json.errors?.[0]?.extensions?.code === 'SESSION_NOT_FOUND') {
        if (timed) alreadyGone++; // churn ended it first
      } else failed('disconnect', r.text);
    };
    // Warm-up, untimed: the same pairs for `warmupS` seconds. The fleet came up a moment ago (every
    // gateway's first snapshot, 100,000 sessions written by both replicas), and the requests' own code
    // is cold; the goal is the steady state, under heartbeats and churn (findings, eighteenth pass).
    const warmupTargets = picked.slice(o.samples);
    const warmupUntil = performance.now() + o.warmupS * 1000;
    let warmupPairs = 0;
    while (warmupPairs < warmupTargets.length && performance.now() < warmupUntil)
      await pair(warmupPairs, warmupTargets[warmupPairs++]!, false);
    // The probes start over here: what they write next covers the timed requests only.
    const others = probeDir
      ? new CpuOfOthers(
          sql,
          agents.map((a) => a.pid),
        )
      : null;
    const probe = () =>
      (probeDir || timelineDir) && replicas.forEach((r) => r.running && process.kill(r.pid, 'SIGUSR2'));
    machine = timelineDir ? await MachineTimeline.start(sql, replicas, agents) : null;
    if (timelineDir) await Promise.all(agents.map((fa) => fa.ask({ type: 'timeline' }, 'timeline')));
    await others?.start();
    probe();
    for (let i = 0; i < targets.length; i++) await pair(i, targets[i]!, true);
    probe();
    if (machine && timelineDir) {
      await machine.write(join(timelineDir, `machine-${label}-${run}.json`));
      await Promise.all(
        agents.map((fa, i) =>
          fa.ask({ type: 'timeline', file: join(timelineDir, `agents-${label}-${run}-${i}.json`) }, 'timeline'),
        ),
      );
    }
    if (others && probeDir) await others.write(join(probeDir, `others-${label}-${run}.json`));
    // Settled: every disconnected session is ended in the store, as an administrator's disconnect.
    const settled = await count(
      "select count(*) n from sessions where id = any($1) and ended_at is not null and end_cause = 'ADMIN_DISCONNECT'",
      [ended],
    );
    if (settled !== ended.length)
      throw new Error(`${label}: ${ended.length - settled} disconnected session(s) not settled`);
    log(
      `fleet ${label}: ${reads.length} pages and ${disconnects.length} disconnects timed (${alreadyGone} already gone, ${failures.length} failed) after ${warmupPairs} untimed pairs`,
    );

    // Both replicas down; meanwhile every gateway changes (one client leaves, one comes), which no
    // replica hears. Both start again: the store is right once every gateway's snapshot is applied:
    // the new session has a row and the one that left is not online (no row at all is right too: a
    // session that came just before the stop may never have reached the store).
    // The churn pauses from before the stop until the change is made, so the session each gateway loses
    // is one the store knew (one that came while no replica listened is rightly unknown to it, and the
    // check below could never see it ended); it resumes with the replicas, sparing the new sessions.
    await churn(0);
    await Promise.all(replicas.map((r) => r.stop(STOP_GRACE_MS)));
    const changes = (await Promise.all(agents.map((fa) => fa.ask({ type: 'change-each' }, 'changed')))).flatMap(
      (c) => c.changes,
    );
    await churn(churnPerS);
    t0 = performance.now();
    const restarted = [startReplica('replica A (restarted)'), startReplica('replica B (restarted)')];
    urls = await Promise.all(restarted.map(listening));
    const restartListenS = (performance.now() - t0) / 1000;
    const gws = changes.map((c) => c.gatewayId);
    let seen = 0;
    let unmatched = '';
    const explain = async () => {
      const rows = await sql.query<{ g: string; e: string; n: string; ended: string | null; added: string | null }>(
        `select c.g, c.e, c.n,
                (select coalesce(s.end_cause, 'online') from sessions s where s.gateway_id = c.g and s.ref = c.e) ended,
                (select coalesce(s.end_cause, 'online') from sessions s where s.gateway_id = c.g and s.ref = c.n) added
           from unnest($1::text[], $2::text[], $3::text[]) c(g, e, n)`,
        [gws, changes.map((c) => c.endedRef), changes.map((c) => c.newRef)],
      );
      const bad = rows.rows.filter((r) => r.added === null || r.ended === 'online');
      unmatched = `unmatched: ${JSON.stringify(bad.slice(0, 5))}`;
    };
    await waitFor(
      async () =>
        (seen = await count(
          `select count(*) n from unnest($1::text[], $2::text[], $3::text[]) c(g, e, n)
             where exists (select 1 from sessions s where s.gateway_id = c.g and s.ref = c.n)
               and not exists (select 1 from sessions s where s.gateway_id = c.g and s.ref = c.e and s.ended_at is null)`,
          [gws, changes.map((c) => c.endedRef), changes.map((c) => c.newRef)],
        )) === changes.length || void (await explain()),
      o.smoke ? 60_000 : (Number(process.env.BENCH_FLEET_RECONCILE_S) || 600) * 1000,
      () => `${label}: the store to match every gateway after the restart (${seen}/${changes.length}); ${unmatched}`,
      250,
    );
    const reconcileS = (performance.now() - t0) / 1000;
    log(
      `fleet ${label}: replicas listening ${restartListenS.toFixed(1)} s, store matches every gateway ${reconcileS.toFixed(1)} s after the restart`,
    );

    const now = watch.sample();
    const rssSettledMb = Math.max(...restarted.map((r) => now.get(r.name) ?? 0)) / MB;
    const rssPeakMb = Math.max(...[...watch.peak].filter(([n]) => n.startsWith('replica')).map(([, v]) => v)) / MB;
    const agentsRssMb = Math.max(...[...watch.peak].filter(([n]) => n.startsWith('agents')).map(([, v]) => v)) / MB;
    const stats = await Promise.all(agents.map((fa) => fa.ask({ type: 'stats' }, 'stats')));
    return {
      size,
      agentProcesses: processes,
      ingestS,
      reads,
      disconnects,
      alreadyGone,
      failures,
      restartListenS,
      reconcileS,
      rssPeakMb,
      rssSettledMb,
      agentsRssMb,
      churned: stats.reduce((n, s) => n + s.churned, 0),
    };
  } finally {
    watch.stop();
    await Promise.all(agents.map((fa) => fa.close()));
    await Promise.all(replicas.map((r) => r.stop(STOP_GRACE_MS)));
    await sql.end();
    await db.drop();
  }
}

function parseSizes(text: string): Size[] {
  return text.split(',').map((s) => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(s);
    if (!m) throw new Error(`BENCH_FLEET_SIZES: ${JSON.stringify(s)} is not GATEWAYSxSESSIONS`);
    return { gateways: Number(m[1]), sessions: Number(m[2]) };
  });
}

export async function fleet({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const skip = (await postgresSkipReason()) || (await natsSkipReason());
  if (skip) throw new Error(skip);
  const sizes = parseSizes(process.env.BENCH_FLEET_SIZES ?? (smoke ? '3x20' : '100x1000,1000x100'));
  const o = {
    smoke,
    log,
    samples: smoke ? 6 : Number(process.env.BENCH_FLEET_SAMPLES ?? 1000),
    warmupS: smoke ? 0 : Number(process.env.BENCH_FLEET_WARMUP_S ?? 10),
    warmupMaxPairs: smoke ? 0 : 1000,
    heartbeatMs: smoke ? 500 : 5_000,
    snapshotIntervalMs: 60_000,
  };
  const results: SizeResult[] = [];
  for (const size of sizes) results.push(await runSize(size, o));

  const rows: FigureRow[] = [];
  const goals: Goal[] = [];
  for (const r of results) {
    const label = `${r.size.gateways} × ${r.size.sessions}`;
    const reads = summarize(r.reads);
    const disc = summarize(r.disconnects);
    rows.push({
      label,
      sessions: r.size.gateways * r.size.sessions,
      'agents processes': r.agentProcesses,
      'initial ingestion s': round(r.ingestS, 1),
      pages: reads.n,
      'page p50 ms': round(reads.p50, 2),
      'page p99 ms': round(reads.p99, 2),
      disconnects: disc.n,
      'disconnect p50 ms': round(disc.p50, 2),
      'disconnect p99 ms': round(disc.p99, 2),
      'failed requests': r.failures.length,
      'restart: listening s': round(r.restartListenS, 1),
      'restart: store matches every gateway s': round(r.reconcileS, 1),
      'replica RSS peak MB': round(r.rssPeakMb, 0),
      'replica RSS after reconcile MB': round(r.rssSettledMb, 0),
      'agents process RSS peak MB': round(r.agentsRssMb, 0),
    });
    goals.push(
      { text: `${label}: onlineSessions page p99 ≤ 15 ms`, figure: reads.p99, unit: 'ms', met: reads.p99 <= 15 },
      { text: `${label}: disconnect p99 ≤ 40 ms`, figure: disc.p99, unit: 'ms', met: disc.p99 <= 40 },
      {
        text: `${label}: no page or disconnect failed`,
        figure: r.failures.length,
        unit: 'failed',
        met: r.failures.length === 0,
      },
      {
        text: `${label}: full reconcile after a restart ≤ 60 s`,
        figure: round(r.reconcileS, 1),
        unit: 's',
        met: r.reconcileS <= 60,
      },
      { text: `${label}: replica RSS ≤ 1 GB`, figure: round(r.rssPeakMb, 0), unit: 'MB', met: r.rssPeakMb <= 1024 },
    );
  }
  const failureNotes = results
    .filter((r) => r.failures.length > 0)
    .map(
      (r) =>
        `${r.size.gateways} × ${r.size.sessions}: ${r.failures.length} request(s) failed, the first: ${r.failures[0]}`,
    );
  return {
    name: 'fleet',
    title: 'Fleet scale: gateways × sessions over NATS, two replicas on PostgreSQL',
    params: {
      sizes: sizes.map((s) => `${s.gateways}x${s.sessions}`).join(', '),
      heartbeatMs: o.heartbeatMs,
      snapshotIntervalS: o.snapshotIntervalMs / 1000,
      churn: '1% of the sessions per minute',
      timedPairsPerSize: o.samples,
    },
    tables: { 'Per size (gateways × sessions per gateway)': rows },
    goals,
    notes: [
      'Agents: one real AgentLink (the code `switchboard agent` runs) per gateway, all of a process on one NATS connection, with a stand-in daemon (the FakeAdapter of the tests) behind each: every report and disconnect reply is built, validated and versioned by the product’s wire code. Up to 500,000 sessions per agents process.',
      `Timed: one \`onlineSessions(first: 50)\` page (every field) then one \`disconnectBySessionId\` of a random online session, one request at a time from the benchmark process, alternating the two replicas, while every agent heartbeats, snapshots every 60 s and 1% of the sessions leave and as many arrive per minute. A disconnect of a session churn ended first is counted apart, not timed. Before the timed pairs, the same pairs for ${o.warmupS} s, untimed (warm-up: the fleet has just come up).`,
      'Restart: both replicas stopped; every gateway then loses one client and gains one, which no replica hears; both started again. Timed from the start until the store holds every gateway’s change (so every gateway’s snapshot has been applied), and until both listen.',
      'RSS: /proc VmRSS of each replica, sampled every 200 ms over the whole run (peak), and once after the reconcile.',
      ...failureNotes,
    ],
  };
}
