#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's own test runner (Node 20's --test takes no globs).
// Usage: node scripts/run-tests.mjs [path-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const roots = ['src', 'test'];
const filters = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    // test/chaos is the slow fault suite: `npm run test:chaos` (scripts/run-chaos.mjs), not `npm test`.
    if (statSync(p).isDirectory()) { if (p !== join('test', 'chaos')) walk(p); }
    else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const r of roots) { try { walk(r); } catch { /* missing root */ } }
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) { console.error('no test files matched'); process.exit(1); }
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? '1'}`, ...selected];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
