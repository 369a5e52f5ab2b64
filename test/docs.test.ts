/** The docs that are derived from code stay true: docs/api.md matches the schema and error table served. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STATUS_BY_CODE } from '../src/api/errors.js';
import { renderApiDoc } from '../scripts/api-doc.js';

test('docs/api.md is current (run `npm run docs:api` after changing the schema or error codes)', () => {
  assert.equal(readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8'), renderApiDoc());
});

test('every environment variable the config reads is documented in the README', () => {
  const config = ['config.ts', 'config-nats.ts']
    .map((f) => readFileSync(new URL(`../src/${f}`, import.meta.url), 'utf8'))
    .join('\n');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const vars = [...new Set(config.match(/SWITCHBOARD_[A-Z0-9_]+/g) ?? [])];
  assert.ok(vars.length > 5);
  for (const v of vars) assert.ok(readme.includes(`\`${v}\``), `${v} is documented in the README`);
});

test('docs/api.md documents only error codes the server can give: each is raised somewhere in src', () => {
  const files = (dir: URL): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? files(new URL(`${e.name}/`, dir))
        : e.name.endsWith('.ts') &&
            !e.name.includes('.test') &&
            !e.name.includes('.contract') &&
            !e.name.includes('test-support')
          ? [fileURLToPath(new URL(e.name, dir))]
          : [],
    );
  // The two files that define the codes do not count: a code must be used elsewhere.
  const code = files(new URL('../src/', import.meta.url))
    .filter((f) => !f.endsWith('/api/errors.ts') && !f.endsWith('/domain/errors.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const unused = Object.keys(STATUS_BY_CODE).filter((c) => !code.includes(`'${c}'`) && !code.includes(`"${c}"`));
  assert.deepEqual(unused, [], 'codes in the error table that nothing raises');
});

test('command lines in the docs work from a checkout: `npx switchboard …`, never a bare `switchboard` (not on PATH there)', () => {
  const docs = [
    'README.md',
    ...readdirSync(new URL('../docs/', import.meta.url))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const bare: string[] = [];
  for (const doc of docs) {
    // Inside ```sh blocks (other fences hold diagrams, GraphQL, YAML).
    let fence: string | null = null;
    readFileSync(new URL(`../${doc}`, import.meta.url), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const opening = /^\s*```(\w*)/.exec(line);
        if (opening) fence = fence === null ? opening[1]! : null;
        else if (
          fence !== null &&
          /^(sh|bash|shell|console)$/.test(fence) &&
          /(^|[\s;&|(])switchboard (start|agent|token|audit|migrate|demo)\b/.test(line) &&
          !/npx switchboard /.test(line)
        )
          bare.push(`${doc}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(bare, []);
});

test('the README links every doc, and every relative link in the README and docs/ resolves, anchors included', () => {
  const docs = [
    'README.md',
    ...readdirSync(new URL('../docs/', import.meta.url))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const withoutFences = (text: string): string => text.replace(/```[\s\S]*?```/g, '');
  const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = (path: string): Set<string> =>
    new Set(
      [...withoutFences(read(path)).matchAll(/^#+ (.*)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
    );
  const broken: string[] = [];
  for (const doc of docs) {
    for (const [, link] of withoutFences(read(doc)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?|mailto):/.test(link!)) continue;
      const [file, anchor] = link!.split('#') as [string, string | undefined];
      const target = file === '' ? doc : posix.normalize(posix.join(posix.dirname(doc), file));
      if (!existsSync(new URL(`../${target}`, import.meta.url))) broken.push(`${doc}: ${link}`);
      else if (anchor && target.endsWith('.md') && !anchors(target).has(anchor))
        broken.push(`${doc}: ${link} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
  const readme = read('README.md');
  assert.deepEqual(
    docs.slice(1).filter((d) => !readme.includes(`](${d}`)),
    [],
    'docs the README does not link',
  );
});
