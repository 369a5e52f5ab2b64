#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's own test runner (Node 20's --test takes no globs).
// Usage: node scripts/run-tests.mjs [path-filter ...]
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { availableParallelism } from 'node:os';
import { spawn } from 'node:child_process';
import { ensureBuild } from './ensure-build.mjs';

const roots = ['src', 'test'];
const filters = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    // test/chaos is the slow fault suite: `npm run test:chaos` (scripts/run-chaos.mjs), not `npm test`.
    if (statSync(p).isDirectory()) {
      if (p !== join('test', 'chaos')) walk(p);
    } else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const r of roots) {
  try {
    walk(r);
  } catch {
    /* missing root */
  }
}
// The longest files start first, so the run does not end on one of them alone: the suites against real
// daemons and the end-to-end suites (test/, and the adapter contracts beside their real daemon), then the
// unit tests. Each file is a process of its own with its own resources (ports from 0, unique namespaces,
// temp dirs, PostgreSQL databases and NATS names), so files may run side by side.
// Among those, the files a CI run (2 cores) found slowest start first, longest first: alphabetical order
// had put the longest of all (test/wireguard-gateway) last, so a run ended on it alone.
const SLOWEST = [
  'test/wireguard-gateway.test.ts',
  'test/ui-history.test.ts',
  'test/ui.test.ts',
  'src/gateways/wireguard/wireguard-contract.test.ts',
  'test/cli.test.ts',
  'test/bench-smoke.test.ts',
  'test/openvpn-gateway.test.ts',
  'test/nats-secure.test.ts',
  'test/ui-blocks.test.ts',
  'src/gateways/openconnect/openconnect-contract.test.ts',
].map((f) => f.split('/').join(sep));
const rank = (f) => (SLOWEST.includes(f) ? SLOWEST.indexOf(f) : SLOWEST.length);
const heavy = (f) => f.startsWith(`test${sep}`) || /-contract\.test\.ts$/.test(f);
const selected = files
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => Number(heavy(b)) - Number(heavy(a)) || rank(a) - rank(b) || a.localeCompare(b));
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Suites start `switchboard` processes, which run dist/: build it once, before any test's clock runs.
if (!ensureBuild({ ui: true })) process.exit(1);

// Beside the spec reporter, a small one records each file's duration; the slowest ten are printed at
// the end, with a closing count line, and every file's time is kept in test-artifacts/.
mkdirSync('test-artifacts', { recursive: true });
const record = join('test-artifacts', 'test-durations.jsonl');
writeFileSync(record, '');
// Files at a time: TEST_CONCURRENCY, else 2 where there are two cores or more (most of a real-daemon
// suite's time is waiting on the daemons' timers, not CPU).
const concurrency = process.env.TEST_CONCURRENCY ?? String(Math.min(2, availableParallelism()));
const args = [
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${concurrency}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/test-durations-reporter.mjs',
  `--test-reporter-destination=${record}`,
  ...selected,
];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => {
  summarise();
  process.exit(code ?? (signal ? 1 : 0));
});

function summarise() {
  let lines = [];
  try {
    lines = readFileSync(record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return;
  }
  const files = lines.filter((l) => l.file).sort((a, b) => b.ms - a.ms);
  const counts = lines.find((l) => l.counts)?.counts;
  writeFileSync(
    join('test-artifacts', 'test-durations.txt'),
    files.map((f) => `${(f.ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), f.file)}`).join('\n') + '\n',
  );
  console.log(`\nslowest test files (all ${files.length} in test-artifacts/test-durations.txt):`);
  for (const f of files.slice(0, 10))
    console.log(`${(f.ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), f.file)}`);
  if (counts) console.log(`\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
}
