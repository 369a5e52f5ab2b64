#!/usr/bin/env node
// Runs the slow reliability suite, test/chaos/*.test.ts (real OpenVPN, NATS, PostgreSQL, kill -9, a
// 60 s load), one file at a time with Node's own test runner. Not part of `npm test`.
// Usage: node scripts/run-chaos.mjs [path-filter ...]
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const dir = join('test', 'chaos');
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((n) => n.endsWith('.test.ts'))
  .map((n) => join(dir, n));
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) {
  console.error('no chaos test files matched');
  process.exit(1);
}
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...selected];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
