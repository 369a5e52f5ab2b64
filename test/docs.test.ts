/** The docs that are derived from code stay true: docs/api.md matches the schema and error table served. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATUS_BY_CODE } from '../src/api/errors.js';
import { renderApiDoc } from '../scripts/api-doc.js';

test('docs/api.md is current (run `npm run docs:api` after changing the schema or error codes)', () => {
  assert.equal(readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8'), renderApiDoc());
});

test('every environment variable the config reads is documented in the README', () => {
  const config = ['config.ts', 'config-nats.ts'].map((f) => readFileSync(new URL(`../src/${f}`, import.meta.url), 'utf8')).join('\n');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const vars = [...new Set(config.match(/SWITCHBOARD_[A-Z0-9_]+/g) ?? [])];
  assert.ok(vars.length > 5);
  for (const v of vars) assert.ok(readme.includes(`\`${v}\``), `${v} is documented in the README`);
});

test('docs/api.md documents only error codes the server can give: each is raised somewhere in src', () => {
  const files = (dir: URL): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(new URL(`${e.name}/`, dir)) : e.name.endsWith('.ts') && !e.name.includes('.test') && !e.name.includes('.contract') && !e.name.includes('test-support') ? [fileURLToPath(new URL(e.name, dir))] : []));
  // The two files that define the codes do not count: a code must be used elsewhere.
  const code = files(new URL('../src/', import.meta.url))
    .filter((f) => !f.endsWith('/api/errors.ts') && !f.endsWith('/domain/errors.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const unused = Object.keys(STATUS_BY_CODE).filter((c) => !code.includes(`'${c}'`) && !code.includes(`"${c}"`));
  assert.deepEqual(unused, [], 'codes in the error table that nothing raises');
});

test('command lines in the docs work from a checkout: `npx switchboard …`, never a bare `switchboard` (not on PATH there)', () => {
  const docs = ['README.md', ...readdirSync(new URL('../docs/', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const bare: string[] = [];
  for (const doc of docs) {
    // Inside ```sh blocks (other fences hold diagrams, GraphQL, YAML).
    let fence: string | null = null;
    readFileSync(new URL(`../${doc}`, import.meta.url), 'utf8').split('\n').forEach((line, i) => {
      const opening = /^\s*```(\w*)/.exec(line);
      if (opening) fence = fence === null ? opening[1]! : null;
      else if (fence !== null && /^(sh|bash|shell|console)$/.test(fence) && /(^|[\s;&|(])switchboard (start|agent|token|audit|migrate|demo)\b/.test(line) && !/npx switchboard /.test(line)) bare.push(`${doc}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(bare, []);
});
