#!/usr/bin/env node
// The `switchboard` command. In a source checkout it runs the TypeScript sources through tsx, so it can
// never run a stale build; an installed package (no src/) runs the built CLI in dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/index.ts', import.meta.url);
const built = new URL('../dist/cli/index.js', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(built.href);
}
