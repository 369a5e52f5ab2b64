/**
 * `npm run bench`: runs the benchmarks, appends each result to bench/results/<date>-<name>.json and
 * regenerates BENCHMARKS.md from the latest full (non-smoke) result of each benchmark.
 *
 *   npm run bench                          all six (fleet sizes: BENCH_FLEET_SIZES=100x1000,1000x100)
 *   npm run bench -- --only disconnect     one (comma-separated for several)
 *   npm run bench -- --smoke               tiny sizes, seconds (what `npm test` runs)
 *   npm run bench -- --out DIR             results to DIR; BENCHMARKS.md is left alone
 *   npm run bench -- --report-only         regenerate BENCHMARKS.md from bench/results, run nothing
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Benchmark, StoredRun } from './lib/result.js';
import { machine, round } from './lib/stats.js';
import { renderReport } from './lib/report.js';
import { disconnect } from './disconnect.js';
import { disconnectSameWork } from './disconnect-same-work.js';
import { bulkDisconnect } from './bulk-disconnect.js';
import { throughput } from './throughput.js';
import { storeScale } from './store-scale.js';
import { reconnectStorm } from './reconnect-storm.js';
import { memory } from './memory.js';
import { fleet } from './fleet.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/**
 * In this order: store-scale last, because loading 1.2M rows leaves PostgreSQL checkpointing and
 * vacuuming for a minute after, which took CPU from whatever ran next on these 2-core machines.
 */
export const BENCHMARKS: Record<string, Benchmark> = {
  disconnect,
  throughput,
  'disconnect-same-work': disconnectSameWork,
  'bulk-disconnect': bulkDisconnect,
  'reconnect-storm': reconnectStorm,
  memory,
  'store-scale': storeScale,
  fleet,
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    'report-only': { type: 'boolean', default: false },
  },
});
const names = values['report-only']
  ? []
  : values.only
    ? values.only.split(',').map((s) => s.trim())
    : Object.keys(BENCHMARKS);
for (const n of names)
  if (!BENCHMARKS[n]) throw new Error(`unknown benchmark ${n}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
const resultsDir = values.out ?? join(ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
let failed = 0;
for (const name of names) {
  const started = performance.now();
  log(`${name}: start${values.smoke ? ' (smoke)' : ''}`);
  try {
    const result = await BENCHMARKS[name]!({ smoke: values.smoke, log });
    const run: StoredRun = {
      ...result,
      date: new Date().toISOString(),
      smoke: values.smoke,
      machine: machine(),
      durationS: round((performance.now() - started) / 1000, 1),
    };
    const file = join(resultsDir, `${run.date.slice(0, 10)}-${name}.json`);
    // A JSON array per day and benchmark; a run is appended, earlier runs are kept.
    const runs = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StoredRun[]) : [];
    runs.push(run);
    writeFileSync(file, `${JSON.stringify(runs, null, 2)}\n`);
    for (const g of run.goals) log(`${name}: goal ${g.met ? 'MET   ' : 'MISSED'} ${g.text}: ${g.figure} ${g.unit}`);
    log(`${name}: done in ${run.durationS} s -> ${file}`);
  } catch (e) {
    failed++;
    log(`${name}: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}
if (!values.out && !values.smoke) {
  const findingsFile = join(ROOT, 'bench', 'findings.md');
  const findings = existsSync(findingsFile) ? readFileSync(findingsFile, 'utf8') : '';
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), renderReport(latestRuns(resultsDir), findings));
  log('BENCHMARKS.md regenerated');
}
process.exit(failed ? 1 : 0);

/** The newest full run of each benchmark found in `dir`. */
function latestRuns(dir: string): StoredRun[] {
  const latest = new Map<string, StoredRun>();
  if (!existsSync(dir)) return [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    for (const run of JSON.parse(readFileSync(join(dir, file), 'utf8')) as StoredRun[]) {
      if (run.smoke) continue;
      const prev = latest.get(run.name);
      if (!prev || prev.date < run.date) latest.set(run.name, run);
    }
  }
  return Object.keys(BENCHMARKS)
    .map((n) => latest.get(n))
    .filter((r): r is StoredRun => r !== undefined);
}
