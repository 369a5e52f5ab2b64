#!/usr/bin/env node
// `npm start` from a fresh clone: build the operator console once if it has not been built yet, so
// the console at / works without a separate `npm run build`.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

if (!existsSync(new URL('../dist/ui/index.html', import.meta.url))) {
  process.stderr.write('Building the operator console (first start only)…\n');
  const vite = new URL('../node_modules/vite/bin/vite.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [vite, 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn'], { stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write('The console could not be built; the API works without it.\n');
}
