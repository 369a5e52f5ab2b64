/**
 * Disconnect throughput against same-work baselines: `disconnectBySessionId` on distinct ids, 50
 * connections, Switchboard (`switchboard start`, SQLite, its gateway a management stand-in) against
 * two baselines in another process that do exactly the durable work of a Switchboard disconnect
 * (lib/same-work.ts: the same statements on the same database file with the same pragmas, and the
 * `client-kill` round trip): a bare node:http handler and fastify + mercurius (jit). Rounds
 * interleave the three servers in a rotating order; each ratio is the median over rounds of the
 * per-round ratio.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { BaselineProcess } from './lib/baseline-process.js';
import { LoadGenerator, type LoadResult } from './lib/load.js';
import { ManagementStandin } from './lib/management-standin.js';
import { COMPILED_RUNTIME, type BenchOptions, type BenchResult, type FigureRow } from './lib/result.js';
import { startSeededServer } from './lib/seeded-server.js';
import { writesBetween } from './lib/sql-trace.js';
import { median, round } from './lib/stats.js';
import { rotate } from './throughput.js';

const BASELINES = fileURLToPath(new URL('./lib/same-work-servers.ts', import.meta.url));
const SQL_TRACE = fileURLToPath(new URL('./lib/sql-trace.ts', import.meta.url));
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';

type Contender = 'switchboard' | 'raw same-work' | 'mercurius same-work';

export async function disconnectSameWork({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const rounds = smoke ? 1 : 5;
  const connections = smoke ? 5 : 50;
  const disconnectsPerRun = smoke ? 60 : 4_000;
  const contenders: Contender[] = ['switchboard', 'raw same-work', 'mercurius same-work'];
  const sessions = rounds * contenders.length * disconnectsPerRun;

  // The smoke run traces every statement of both server processes and checks that the baselines
  // write the rows Switchboard writes (see `sameRows`).
  const traceDir = smoke ? mkdtempSync(join(tmpdir(), 'sb-sql-trace-')) : null;
  const traceOf = (name: string) => join(traceDir!, `${name}.json`);
  log(`disconnect-same-work: starting switchboard with ${sessions} sessions`);
  const server = await startSeededServer({
    sessions,
    ...(traceDir
      ? { extraArgs: ['--import', 'tsx', '--import', SQL_TRACE], env: { BENCH_SQL_TRACE: traceOf('switchboard') } }
      : {}),
  });
  // The baselines kill on a stand-in of their own holding the same clients (the same Client IDs), so
  // Switchboard never hears of their kills: its process does nothing while a baseline is measured.
  const baseStandin = await ManagementStandin.start(join(server.dir, 'base.sock'));
  baseStandin.addClients(sessions);
  const baselines = BaselineProcess.start(
    'same-work baselines',
    BASELINES,
    [server.dbPath, baseStandin.path, server.token],
    traceDir ? { imports: [SQL_TRACE], env: { BENCH_SQL_TRACE: traceOf('baselines') } } : {},
  );
  const load = await LoadGenerator.start();
  try {
    const urls = await baselines.urls;
    const url: Record<Contender, string> = {
      switchboard: server.url,
      'raw same-work': urls.raw,
      'mercurius same-work': urls.mercurius,
    };
    const headers = { authorization: `Bearer ${server.token}` };
    const db = new SqliteDatabase(server.dbPath, { readonly: true });
    // Session ids are random: in id order every contender ends sessions from all over the table.
    const ids = db.prepare('select id from sessions where ended_at is null order by id').pluck().all() as string[];
    db.close();
    if (ids.length < sessions) throw new Error(`need ${sessions} online sessions, have ${ids.length}`);

    const traces = async () =>
      traceDir
        ? {
            switchboard: await traceSnapshot(server.pid, traceOf('switchboard')),
            baselines: await traceSnapshot(baselines.pid, traceOf('baselines')),
          }
        : null;
    const tracedBefore = await traces();
    const runs: Record<Contender, LoadResult[]> = {
      switchboard: [],
      'raw same-work': [],
      'mercurius same-work': [],
    };
    let taken = 0;
    for (let r = 0; r < rounds; r++) {
      for (const c of rotate(contenders, r)) {
        const bodies = ids
          .slice(taken, (taken += disconnectsPerRun))
          .map((id) => JSON.stringify({ query: DISCONNECT, variables: { id } }));
        const res = await load.run({
          url: url[c],
          connections,
          amount: bodies.length,
          headers,
          bodies,
          expect: '"disconnectBySessionId":true',
        });
        runs[c].push(res);
        log(
          `disconnect-same-work: round ${r + 1} ${c}: ${res.rps.toFixed(0)} req/s, p99 ${res.latency.p99} ms, errors ${res.errorBodies + res.errors + res.non2xx}`,
        );
      }
    }
    const tracedAfter = await traces();
    const writes =
      tracedBefore && tracedAfter
        ? sameRows(
            writesBetween(tracedBefore.switchboard, tracedAfter.switchboard),
            rounds * disconnectsPerRun,
            writesBetween(tracedBefore.baselines, tracedAfter.baselines),
            2 * rounds * disconnectsPerRun,
          )
        : null;
    const ratio = (c: Contender, to: Contender) =>
      c === to ? 1 : round(median(runs[c].map((x, i) => x.rps / runs[to][i]!.rps)), 2);
    const table: FigureRow[] = contenders.map((c) => ({
      label: c,
      'req/s (median)': round(median(runs[c].map((x) => x.rps)), 0),
      'p50 ms': median(runs[c].map((x) => x.latency.p50)),
      'p99 ms': median(runs[c].map((x) => x.latency.p99)),
      'vs raw same-work': ratio(c, 'raw same-work'),
      'vs mercurius same-work': ratio(c, 'mercurius same-work'),
      'bad replies': runs[c].reduce((a, x) => a + x.errorBodies + x.errors + x.non2xx, 0),
    }));
    const sb = table[0]!;
    const firstError = Object.values(runs)
      .flat()
      .find((x) => x.firstError)?.firstError;
    const bad = table.reduce((a, row) => a + (row['bad replies'] as number), 0);
    return {
      name: 'disconnect-same-work',
      title: 'Disconnect throughput against same-work baselines (50 connections)',
      params: {
        sessions,
        rounds,
        connections,
        disconnectsPerRun,
        loadGenerator: 'autocannon 8 in a child process',
        runtime: COMPILED_RUNTIME,
      },
      tables: {
        'disconnectBySessionId, distinct ids, same-work baselines': table,
        ...(writes
          ? { 'Rows inserted and update statements, per disconnect (smoke run: statement trace)': writes }
          : {}),
      },
      goals: [
        {
          text: `disconnectBySessionId ≥ 0.8× raw same-work (p99 ${sb['p99 ms']} ms against ${table[1]!['p99 ms']} ms)`,
          figure: sb['vs raw same-work'] as number,
          unit: '×',
          met: (sb['vs raw same-work'] as number) >= 0.8,
        },
        {
          text: `disconnectBySessionId ≥ 1.0× mercurius same-work (p99 ${sb['p99 ms']} ms against ${table[2]!['p99 ms']} ms)`,
          figure: sb['vs mercurius same-work'] as number,
          unit: '×',
          met: (sb['vs mercurius same-work'] as number) >= 1,
        },
      ],
      notes: [
        'same-work: each baseline does the durable work of a Switchboard disconnect, with the SQL texts its store runs (bench/lib/same-work.ts): the session looked up; one transaction with the intent and its PENDING audit row; `client-kill` on its own management connection; one transaction settling the intent, ending the session as ADMIN_DISCONNECT with the actor, the SUCCESS audit row and the `session.disconnected` outbox row; the outbox relayed (claimed, marked published) as Switchboard’s relay does. Same database file, same pragmas, checkpoints on a worker thread as Switchboard’s; transactions of disconnects ready in the same event-loop turn share a commit, as Switchboard’s group commit does.',
        'Not in the baselines: reading the daemon’s `>CLIENT:DISCONNECT` echo (Switchboard must, to know of ends it did not cause), token verification beyond comparing the bearer string, rate limits (off in all benchmarks), logging and metrics.',
        'Switchboard runs as `switchboard start` (SQLite) in its own process; the two baselines share a second process and kill on a management stand-in of their own with the same Client IDs, so Switchboard does not hear their kills; autocannon runs in a third.',
        ...(bad > 0 ? [`${bad} bad replies; first: ${firstError}`] : []),
      ],
    };
  } finally {
    await load.close();
    await baselines.stop();
    await baseStandin.close();
    await server.close();
    if (traceDir) rmSync(traceDir, { recursive: true, force: true });
  }
}

/** The statement counts a process has written on SIGUSR2 (sql-trace.ts). */
async function traceSnapshot(pid: number, file: string): Promise<Record<string, number>> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 500 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 50)); // written in one call; let it finish
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
}

/**
 * Writes per disconnect, Switchboard against the baselines. Throws unless the baselines insert the
 * same rows per disconnect (intents, audit rows, outbox rows) and write no table Switchboard does
 * not: a baseline that drifted from Switchboard's statements would measure other work.
 */
function sameRows(sb: Map<string, number>, sbN: number, base: Map<string, number>, baseN: number): FigureRow[] {
  const kinds = [...new Set([...sb.keys(), ...base.keys()])].sort();
  const rows = kinds.map((kind) => ({
    label: kind,
    switchboard: round((sb.get(kind) ?? 0) / sbN, 2),
    'same-work baselines': round((base.get(kind) ?? 0) / baseN, 2),
  }));
  // A disconnect's tables; the gateways' heartbeat rows, written meanwhile, are shown, not compared.
  const checked = /"(disconnect_intents|audit_events|event_outbox|sessions|webhook_deliveries)"$/;
  const drifted = rows.filter((r) =>
    r.label.startsWith('insert')
      ? checked.test(r.label) && r.switchboard !== r['same-work baselines']
      : r['same-work baselines'] > 0 && r.switchboard === 0,
  );
  if (drifted.length > 0)
    throw new Error(
      `disconnect-same-work: the baselines do not write what Switchboard writes: ${JSON.stringify(rows)}`,
    );
  return rows;
}
