/** The docs that are derived from code stay true: docs/api.md matches the schema and error table served. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
