// The dependency rule of DESIGN.md, in one place, checked by `npm run lint`:
//
//   cli/main → api → core → {store | bus | gateways} → domain
//
// Each rule below names a folder and what it must not import. Production code only: tests and
// `*.test-support.ts` files may compose parts across folders (an API test with a real core), but
// they may not form cycles either. test/lint-rules.test.ts proves every rule with a fixture that
// must fail.
/** Files that are tests or test support: they may cross folders. */
const TESTS = '(\\.test\\.ts|\\.test-support\\.ts|\\.contract\\.ts)$|(^|/)src/store/contract/';
/** Packages that do I/O (or pull a driver in): never in domain/. */
const IO_NODE_MODULES = [
  'fs',
  'net',
  'dgram',
  'http',
  'https',
  'http2',
  'tls',
  'child_process',
  'worker_threads',
  'cluster',
  'dns',
  'readline',
  'os',
  'process',
  'v8',
  'vm',
  'sqlite',
  'fs/promises',
  'dns/promises',
  'stream',
  'timers/promises',
];
const IO_PACKAGES = [
  'pino',
  'kysely',
  'pg',
  'better-sqlite3',
  'ws',
  '@nats-io/transport-node',
  'graphql',
  'graphql-ws',
  'graphql-sse',
  'graphql-http',
  'yaml',
];
/** The implementations behind the ports (store.ts, bus.ts, adapter.ts): only main.ts picks them. */
const IMPLEMENTATIONS = '^src/store/(kysely|contract)/|^src/bus/(memory|nats)/|^src/gateways/(?!adapter\\.ts$)[^/]+/';
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A rule: files under `from` (regex on the path) may not import anything matching `to`. */
function forbid(name, comment, from, to, extra = {}) {
  return { name, comment, severity: 'error', from: { path: from, pathNot: TESTS }, to: { path: to, ...extra } };
}

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle (type-only ones included) ties two files into one; break it with a smaller module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    forbid(
      'domain-pure',
      'domain/ is types and rules: it imports only domain/ and zod.',
      '^src/domain/',
      '^src/(?!domain/)',
    ),
    {
      name: 'domain-no-io',
      comment: 'domain/ does no I/O: no node I/O modules, drivers, loggers or servers.',
      severity: 'error',
      from: { path: '^src/domain/', pathNot: TESTS },
      // A node module resolves to its bare name (`node:fs` → `fs`); a package to a path in node_modules.
      to: {
        path: `^(node:)?(${IO_NODE_MODULES.map(escape).join('|')})$|(^|/)node_modules/(${IO_PACKAGES.map(escape).join('|')})/`,
      },
    },
    forbid(
      'store-down-only',
      'store/ implements a port over domain/: no core, api, bus, gateways, cli, lab, config or main.',
      '^src/store/',
      '^src/(core|api|bus|gateways|cli|lab)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'bus-down-only',
      'bus/ implements a port over domain/: no core, api, store, gateways, cli, lab, config or main.',
      '^src/bus/',
      '^src/(core|api|store|gateways|cli|lab)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'gateways-down-only',
      'gateways/ speak to daemons over domain/: no core, api, store, bus, cli, lab, config or main.',
      '^src/gateways/',
      '^src/(core|api|store|bus|cli|lab)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'core-no-up',
      'core/ is below api/ and cli/: it never imports them, config or main.',
      '^src/core/',
      '^src/(api|cli|lab)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'core-ports-only',
      "core/ combines the ports (store.ts, bus.ts, adapter.ts); which implementation runs is main.ts's choice.",
      '^src/core/',
      IMPLEMENTATIONS,
    ),
    forbid(
      'api-core-only',
      'api/ calls core: never store, bus, gateways, cli, lab, config or main.',
      '^src/api/',
      '^src/(store|bus|gateways|cli|lab)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'lab-alone',
      'lab/ runs throw-away daemons for the demo and tests: it may use domain/ and gateways/ config types only.',
      '^src/lab/',
      '^src/(core|api|store|bus|cli)/|^src/(config|main)\\.ts$',
    ),
    forbid(
      'config-no-up',
      "config.ts validates settings: it may use domain/ and the ports' own constants and types, never an implementation or a layer above.",
      '^src/config\\.ts$',
      `^src/(core|api|cli|lab)/|^src/main\\.ts$|${IMPLEMENTATIONS}`,
    ),
    forbid('main-not-cli', 'main.ts composes; cli/ calls it, never the other way.', '^src/main\\.ts$', '^src/cli/'),
    forbid(
      'ui-public-api-only',
      'The console speaks to Switchboard only through the public GraphQL API.',
      '^ui/',
      '^(src|test|bench|scripts)/',
    ),
    forbid('no-test-code-in-production', 'Production code never imports tests or test support.', '^(src|ui)/', TESTS),
    // Test support: a *.test-support.ts file serves the tests of its own area of src/ (src/api/,
    // src/gateways/ and below, …); what tests elsewhere need lives in test/support/ (its README).
    {
      name: 'test-support-stays-home',
      comment:
        'A *.test-support.ts file is for the tests of its own src/<area>/; support another area or test/ needs lives in test/support/.',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '\\.test-support\\.ts$', pathNot: '^src/$1/' },
    },
    {
      name: 'test-support-stays-home',
      comment:
        'Outside the areas of src/ (test/, bench/, scripts/, src/*.ts) shared test support comes from test/support/, never from a *.test-support.ts file.',
      severity: 'error',
      from: { pathNot: '^src/[^/]+/' },
      to: { path: '\\.test-support\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data|bench/results|bench/tmp|test-artifacts)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'],
    },
    builtInModules: { add: [] },
  },
};
