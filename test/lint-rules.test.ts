/**
 * The dependency rules in .dependency-cruiser.cjs, proven: each fixture is a two-file tree that breaks
 * exactly one arrow of DESIGN.md and must be reported under that rule's name; a tree that keeps the
 * arrows must pass. The fixtures are written under test-artifacts/ so npm packages resolve.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const FIXTURES = join(ROOT, 'test-artifacts', `lint-fixtures-${process.pid}`);
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const BIN = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** Files of one fixture: path → source. */
type Tree = Record<string, string>;

const CASES: { rule: string; tree: Tree }[] = [
  {
    rule: 'core-no-up',
    tree: {
      'src/core/a.ts': "import { b } from '../api/b.js';\nexport const a = b;\n",
      'src/api/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'core-no-up',
    tree: {
      'src/core/a.ts': "import { b } from '../main.js';\nexport const a = b;\n",
      'src/main.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'core-ports-only',
    tree: {
      'src/core/a.ts': "import { b } from '../store/kysely/b.js';\nexport const a = b;\n",
      'src/store/kysely/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'core-ports-only',
    tree: {
      'src/core/a.ts': "import { b } from '../bus/nats/b.js';\nexport const a = b;\n",
      'src/bus/nats/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'core-ports-only',
    tree: {
      'src/core/a.ts': "import { b } from '../gateways/openvpn/b.js';\nexport const a = b;\n",
      'src/gateways/openvpn/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'domain-no-io',
    tree: { 'src/domain/a.ts': "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;\n" },
  },
  { rule: 'domain-no-io', tree: { 'src/domain/a.ts': "import { pino } from 'pino';\nexport const a = pino;\n" } },
  { rule: 'domain-no-io', tree: { 'src/domain/a.ts': "import { Kysely } from 'kysely';\nexport const a = Kysely;\n" } },
  {
    rule: 'domain-pure',
    tree: {
      'src/domain/a.ts': "import { b } from '../core/b.js';\nexport const a = b;\n",
      'src/core/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'api-core-only',
    tree: {
      'src/api/a.ts': "import { b } from '../config.js';\nexport const a = b;\n",
      'src/config.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'api-core-only',
    tree: {
      'src/api/a.ts': "import { b } from '../store/store.js';\nexport const a = b;\n",
      'src/store/store.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'store-down-only',
    tree: {
      'src/store/a.ts': "import { b } from '../main.js';\nexport const a = b;\n",
      'src/main.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'store-down-only',
    tree: {
      'src/store/a.ts': "import { b } from '../config.js';\nexport const a = b;\n",
      'src/config.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'bus-down-only',
    tree: {
      'src/bus/a.ts': "import { b } from '../store/b.js';\nexport const a = b;\n",
      'src/store/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'gateways-down-only',
    tree: {
      'src/gateways/a.ts': "import { b } from '../bus/b.js';\nexport const a = b;\n",
      'src/bus/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'lab-alone',
    tree: {
      'src/lab/a.ts': "import { b } from '../core/b.js';\nexport const a = b;\n",
      'src/core/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'config-no-up',
    tree: {
      'src/config.ts': "import { b } from './api/b.js';\nexport const a = b;\n",
      'src/api/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'main-not-cli',
    tree: {
      'src/main.ts': "import { b } from './cli/b.js';\nexport const a = b;\n",
      'src/cli/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'ui-public-api-only',
    tree: {
      'ui/src/a.ts': "import { b } from '../../src/domain/b.js';\nexport const a = b;\n",
      'src/domain/b.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'no-test-code-in-production',
    tree: {
      'src/core/a.ts': "import { b } from './b.test-support.js';\nexport const a = b;\n",
      'src/core/b.test-support.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'test-support-stays-home',
    tree: {
      'src/core/a.test.ts': "import { b } from '../api/b.test-support.js';\nexport const a = b;\n",
      'src/api/b.test-support.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'test-support-stays-home',
    tree: {
      'src/top.test.ts': "import { b } from './core/b.test-support.js';\nexport const a = b;\n",
      'src/core/b.test-support.ts': 'export const b = 1;\n',
    },
  },
  {
    rule: 'no-cycles',
    tree: {
      'src/core/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'src/core/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
    },
  },
];

/** Where each fixture lives: its own numbered files, except the two files a tree has only one of. */
function place(path: string, i: number): string {
  return /(^|\/)(main|config)\.ts$/.test(path) ? path : path.replace(/([^/.]+)(\.[^/]*)$/, `$1${i}$2`);
}

/** Every fixture and the clean tree in one folder, cruised once (a run costs seconds). */
function writeAll(): { violations: { from: string; rule: string }[]; sources: string[] } {
  const sources: string[] = [];
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(FIXTURES, path)), { recursive: true });
    writeFileSync(join(FIXTURES, path), text);
  };
  write(
    'tsconfig.json',
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
  );
  CASES.forEach(({ tree }, i) => {
    const rename = (text: string) =>
      text.replace(
        /'(\.{1,2}\/[^']+)\.js'/g,
        (_m, spec: string) => `'${place(`${spec}.ts`, i).replace(/\.ts$/, '.js')}'`,
      );
    Object.entries(tree).forEach(([path, text], k) => {
      write(place(path, i), rename(text));
      if (k === 0) sources.push(place(path, i));
    });
  });
  for (const [path, text] of Object.entries(CLEAN)) write(path, text);
  return { violations: [], sources };
}

/** A tree that keeps the arrows: it must pass. */
const CLEAN: Tree = {
  'src/api/clean-a.ts': "import { b } from '../core/clean-b.js';\nexport const a = b;\n",
  'src/core/clean-b.ts':
    "import type { S } from '../store/clean-store.js';\nimport { d } from '../domain/clean-d.js';\nexport const b: S | number = d;\n",
  'src/store/clean-store.ts': "import { d } from '../domain/clean-d.js';\nexport type S = typeof d;\n",
  'src/domain/clean-d.ts': "import { z } from 'zod';\nexport const d = z.number().parse(1);\n",
  'src/cli/clean-cli.ts':
    "import { a } from '../api/clean-a.js';\nimport { k } from '../store/kysely/clean-k.js';\nexport const m = [a, k];\n",
  'src/store/kysely/clean-k.ts': 'export const k = 1;\n',
  'src/core/clean-b.test.ts': "import { f } from './clean-f.test-support.js';\nexport const t = f;\n",
  'src/core/clean-f.test-support.ts': 'export const f = 1;\n',
  'src/gateways/openvpn/clean-g.test.ts': "import { h } from '../clean-h.test-support.js';\nexport const g = h;\n",
  'src/gateways/clean-h.test-support.ts': 'export const h = 1;\n',
};

describe('dependency rules (DESIGN.md arrows, cycles)', () => {
  let found: { from: string; rule: string }[] = [];
  let sources: string[] = [];

  before(async () => {
    ({ sources } = writeAll());
    const { stdout } = await run(
      process.execPath,
      [BIN, '--config', CONFIG, '--output-type', 'json', '--no-progress', 'src', 'ui'],
      { cwd: FIXTURES, maxBuffer: 64 * 1024 * 1024 },
    ).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    const result = JSON.parse(stdout) as { summary: { violations: { from: string; rule: { name: string } }[] } };
    found = result.summary.violations.map((v) => ({ from: v.from, rule: v.rule.name }));
  });
  after(() => rmSync(FIXTURES, { recursive: true, force: true }));

  CASES.forEach(({ rule, tree }, i) => {
    const [from, to] = Object.keys(tree);
    it(`${rule}: ${from} → ${to ?? 'its import'} is refused`, () => {
      const source = sources[i]!;
      assert.ok(
        found.some((v) => v.from === source && v.rule === rule),
        `expected ${rule} from ${source}; got ${JSON.stringify(found.filter((v) => v.from === source))}`,
      );
    });
  });

  it('a tree that keeps the arrows passes', () => {
    assert.deepEqual(
      found.filter((v) => v.from.includes('clean-')),
      [],
    );
  });
});
