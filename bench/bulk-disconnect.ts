/**
 * Incident-scale bulk disconnect: one `disconnectSessions` call (filter: one gateway) ends 10,000
 * sessions of a management stand-in. Switchboard runs as `switchboard start` (SQLite) in its own
 * process. Timed from the request until both its reply arrived and all 10,000 `session.disconnected`
 * events were published (the relay marks an outbox row published once the bus confirmed it; polled
 * in the database every 10 ms); the settled audit rows are counted in the database. Meanwhile a probe in its own process asks `onlineSessions(first: 50)` one request
 * after another: its p99 during the bulk call, beside its p99 idle just before. Baselines in the
 * same run, before each round: the same-work baseline (lib/same-work.ts: the durable work of each
 * disconnect and its `client-kill`, hand-written, all 10,000 at once) on a copy of the database, and
 * the floor, a bare socket client pipelining the same 10,000 `client-kill` commands.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { ManagementLink } from './lib/management-link.js';
import { ManagementStandin } from './lib/management-standin.js';
import { Probe } from './lib/probe.js';
import { SameWork } from './lib/same-work.js';
import { COMPILED_RUNTIME, type BenchOptions, type BenchResult, type FigureRow } from './lib/result.js';
import { GATEWAY_ID, startSeededServer, waitForCount } from './lib/seeded-server.js';
import { median, percentile, round } from './lib/stats.js';
import { SESSIONS_QUERY } from './throughput.js';

const BULK = `mutation ($gw: String!) { disconnectSessions(input: { filter: { gatewayId: $gw }, reason: "incident" }) {
  matched ended alreadyGone failed results { sessionId outcome code } } }`;

interface BulkReply {
  data?: {
    disconnectSessions: {
      matched: number;
      ended: number;
      alreadyGone: number;
      failed: number;
      results: { outcome: string }[];
    };
  };
  errors?: unknown[];
}

export async function bulkDisconnect({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const n = Number(process.env.BENCH_BULK_SESSIONS) || (smoke ? 300 : 10_000);
  const rounds = smoke ? 1 : 3;
  const idleMs = smoke ? 300 : 2_000;
  log(`bulk-disconnect: starting switchboard with ${n} sessions`);
  const server = await startSeededServer({ sessions: n });
  const floorStandin = await ManagementStandin.start(join(server.dir, 'floor.sock'));
  const probe = await Probe.start();
  const db = new SqliteDatabase(server.dbPath, { readonly: true });
  // Published: the relay put the event on the bus, the bus confirmed it, and the relay marked its row.
  const publishedSince = db
    .prepare(
      "select count(*) from event_outbox where type = 'session.disconnected' and created_at >= ? and published_at is not null",
    )
    .pluck();
  const settledSince = db.prepare(
    "select count(*) from audit_events where action = 'session.disconnect' and outcome = 'SUCCESS' and at >= ?",
  );
  const spec = {
    url: server.url,
    headers: { authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ query: SESSIONS_QUERY, variables: { first: 50 } }),
    expect: '"edges"',
  };
  const until = async (ok: () => boolean, what: () => string, ms = 300_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`bulk-disconnect: timed out waiting for ${what()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const rows: {
    reply: number;
    events: number;
    total: number;
    p99: number;
    p50: number;
    probes: number;
    idleP99: number;
    floor: number;
    sameWork: number;
    cpu: number;
  }[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      if (r > 0) {
        server.standin.addClients(n, true);
        await waitForCount(server, n, 120_000);
      }
      // The floor: the same number of kills, pipelined on a bare socket, no records.
      floorStandin.addClients(n);
      const link = new ManagementLink(floorStandin.path);
      const f0 = performance.now();
      const killed = await Promise.all(Array.from({ length: n }, (_, i) => link.kill(r * n + i)));
      const floor = performance.now() - f0;
      link.close();
      if (killed.some((k) => !k)) throw new Error('bulk-disconnect: the floor’s kills failed');
      // The same-work baseline: on a copy of the database as it is now, killing on a stand-in of its
      // own that holds the same Client IDs, every disconnect at once.
      const copy = join(server.dir, `same-work-${r}.db`);
      db.exec(`vacuum into '${copy}'`);
      const workStandin = await ManagementStandin.start(join(server.dir, `same-work-${r}.sock`));
      workStandin.addClients((r + 1) * n);
      const work = new SameWork(copy, workStandin.path);
      const ids = new SqliteDatabase(copy, { readonly: true });
      const online = ids.prepare('select id from sessions where ended_at is null').pluck().all() as string[];
      ids.close();
      const s0 = performance.now();
      const ended = await Promise.all(online.map((id) => work.disconnect(SAME_WORK_ACTOR, id)));
      const sameWork = performance.now() - s0;
      await work.close();
      await workStandin.close();
      rmSync(copy, { force: true });
      if (ended.filter(Boolean).length !== n)
        throw new Error('bulk-disconnect: the same-work baseline did not end every session');

      const idle = await probe.measure(spec, () => new Promise((res) => setTimeout(res, idleMs)));
      const wall0 = Date.now();
      const t0 = performance.now();
      let reply = 0;
      let events = 0;
      const cpu0 = cpuMs(server.pid);
      const { value: body, result } = await probe.measure(spec, async () => {
        const answer = fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
          body: JSON.stringify({ query: BULK, variables: { gw: GATEWAY_ID } }),
        }).then(async (res) => {
          const b = (await res.json()) as BulkReply;
          reply = performance.now() - t0;
          return b;
        });
        await until(
          () => (publishedSince.get(wall0) as number) >= n,
          () => `${n} events published (have ${publishedSince.get(wall0) as number})`,
        );
        events = performance.now() - t0;
        return answer;
      });
      const cpu = cpuMs(server.pid) - cpu0;
      const out = body.data?.disconnectSessions;
      if (!out || out.ended !== n || out.results.some((x) => x.outcome !== 'ENDED'))
        throw new Error(`bulk-disconnect: not every session ended: ${JSON.stringify(body).slice(0, 500)}`);
      const settled = settledSince.pluck().get(wall0) as number;
      if (settled !== n) throw new Error(`bulk-disconnect: ${settled} settled audit rows, expected ${n}`);
      if (result.bad > 0 || idle.result.bad > 0) throw new Error('bulk-disconnect: the probe got bad replies');
      const ms = result.samples.map((s) => s.ms);
      const row = {
        reply,
        events,
        total: Math.max(reply, events),
        p99: percentile(ms, 99),
        p50: percentile(ms, 50),
        probes: ms.length,
        idleP99: percentile(
          idle.result.samples.map((s) => s.ms),
          99,
        ),
        floor,
        sameWork,
        cpu,
      };
      rows.push(row);
      log(
        `bulk-disconnect: round ${r + 1}: ${n} ended in ${row.total.toFixed(0)} ms (reply ${reply.toFixed(0)}, events ${events.toFixed(0)}), ` +
          `${round((n / row.total) * 1000, 0)}/s; API p99 ${row.p99.toFixed(1)} ms over ${ms.length} probes (idle ${row.idleP99.toFixed(1)} ms); same-work ${sameWork.toFixed(0)} ms, floor ${floor.toFixed(0)} ms; server CPU ${cpu.toFixed(0)} ms`,
      );
    }
  } finally {
    db.close();
    probe.close();
    await floorStandin.close();
    await server.close();
  }
  const med = (k: keyof (typeof rows)[number]) => round(median(rows.map((x) => x[k])), 1);
  const total = med('total');
  const table: FigureRow[] = [
    {
      label: `disconnectSessions, ${n} sessions of one gateway`,
      'reply ms': med('reply'),
      'all events ms': med('events'),
      'end to end ms': total,
      'sessions/s': round(median(rows.map((x) => (n / x.total) * 1000)), 0),
      'server CPU ms': med('cpu'),
      'vs same-work (time ratio)': round(median(rows.map((x) => x.total / x.sameWork)), 2),
    },
    {
      label: `raw same-work baseline, ${n} disconnects at once`,
      'reply ms': null,
      'all events ms': null,
      'end to end ms': med('sameWork'),
      'sessions/s': round(median(rows.map((x) => (n / x.sameWork) * 1000)), 0),
      'server CPU ms': null,
      'vs same-work (time ratio)': 1,
    },
    {
      label: `floor: ${n} client-kill pipelined on a bare socket`,
      'reply ms': null,
      'all events ms': null,
      'end to end ms': med('floor'),
      'sessions/s': round(median(rows.map((x) => (n / x.floor) * 1000)), 0),
      'server CPU ms': null,
      'vs same-work (time ratio)': null,
    },
  ];
  const api: FigureRow[] = [
    {
      label: 'onlineSessions(first: 50), idle just before',
      'p99 ms': med('idleP99'),
      'p50 ms': null,
      probes: null,
    },
    {
      label: 'onlineSessions(first: 50), during the bulk call',
      'p99 ms': med('p99'),
      'p50 ms': med('p50'),
      probes: med('probes'),
    },
  ];
  return {
    name: 'bulk-disconnect',
    title: `Incident-scale bulk disconnect (${n} sessions, one call)`,
    params: { sessions: n, rounds, store: 'SQLite', idleProbeMs: idleMs, runtime: COMPILED_RUNTIME },
    tables: { 'End to end (median over rounds)': table, 'API meanwhile (median over rounds)': api },
    goals: [
      {
        text: `one disconnectSessions call ends ${n} sessions end to end (reply, ${n} settled audit rows, ${n} events published) ≤ 2 s`,
        figure: round(total / 1000, 2),
        unit: 's',
        met: total <= 2_000,
      },
    ],
    notes: [
      `End to end: from sending the request until both its reply arrived (every result ENDED) and all ${n} \`session.disconnected\` events were published (their outbox rows marked published by the relay once the bus confirmed them; polled every 10 ms); the ${n} SUCCESS audit rows are then counted in the database (the run fails if any is missing).`,
      'The probe runs in its own process, one `onlineSessions(first: 50)` request (every Session field) after another; requests from just before the call until just after it count.',
      'Each round first brings the gateway back to full strength (the stand-in announces new clients). Before Switchboard’s call, in the benchmark process: the raw same-work baseline (bench/lib/same-work.ts, the statements of each disconnect and its `client-kill`, all at once, commits shared per event-loop turn) on a copy of the database (`VACUUM INTO`) and a stand-in of its own; the floor, a bare socket client writing the same number of `client-kill` commands at once. Server CPU: user + system time of Switchboard’s process during the call (/proc), steadier than wall time on a shared machine.',
    ],
  };
}

/** The actor of the same-work baseline's rows. */
const SAME_WORK_ACTOR = { tokenId: null, name: 'bench', ip: null, userAgent: null, scopes: [] };

/** User + system CPU time of a process so far, ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
