#!/usr/bin/env node
// The `switchboard` command: compiled JavaScript in this one process. In a source checkout dist/ is
// rebuilt first when it is missing or older than the sources (scripts/ensure-build.mjs), so it never
// runs a stale build; an installed package ships dist/ and runs it as it is.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/index.ts', import.meta.url);
if (existsSync(source)) {
  const { ensureBuild } = await import('../scripts/ensure-build.mjs');
  // The console is built for `start` only: an agent, a token command or the demo needs no web files.
  if (!ensureBuild({ ui: process.argv[2] === 'start' })) process.exit(1);
}
await import(new URL('../dist/cli/index.js', import.meta.url).href);
