/**
 * CLI conventions (issue 16), each case through the real `switchboard` process: help on every
 * command without acting, --version, one-line refusals with exit 2, and start-up failures (port,
 * host, PostgreSQL, NATS) as one line naming the setting, exit 1, no stack, no token minted.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { postgresSkipReason } from './support/postgres.js';
import { assertOneLineFailure, eachFew as each, runToEnd as run } from './support/switchboard-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

describe('switchboard CLI conventions', () => {
  test('--help and -h on every command and subcommand print its usage, exit 0 and do nothing', async () => {
    const db = join(dir, 'help', 'never.db');
    const cases: [string[], RegExp][] = [
      [['--help'], /^Usage: switchboard <command>/],
      [['-h'], /^Usage: switchboard <command>/],
      [['start', '--help'], /^Usage: switchboard start\n/],
      [['start', '--bogus', '--help'], /^Usage: switchboard start\n/],
      [['agent', '--help'], /^Usage: switchboard agent\n/],
      [['migrate', '--help'], /^Usage: switchboard migrate \[--runtime-role NAME\]/],
      [['token', '--help'], /^Usage: switchboard token <create\|list\|revoke>/],
      [['token', 'create', '--help'], /^Usage: switchboard token create --name NAME/],
      [['token', 'list', '--help'], /^Usage: switchboard token list\n/],
      [['token', 'revoke', '--help'], /^Usage: switchboard token revoke ID \[--force\]\n/],
      [['token', 'revoke', 'tok_aaaaaaaaaaaa', '-h'], /^Usage: switchboard token revoke ID \[--force\]\n/],
      [['audit', '--help'], /^Usage: switchboard audit export/],
      [['audit', 'export', '--help'], /^Usage: switchboard audit export \[--since ISO\]/],
      [['demo', '--help'], /^Usage: switchboard demo \[--protocol openvpn\|wireguard\]\n/],
      [['demo', '--protocol', 'wireguard', '--help'], /^Usage: switchboard demo \[--protocol openvpn\|wireguard\]\n/],
      [['help', 'token'], /^Usage: switchboard token <create\|list\|revoke>/],
    ];
    // Nothing may act: no store is opened (its file would appear), no server listens, no demo runs.
    await each(cases, async ([args, usage]) => {
      const p = await run(args, { SWITCHBOARD_DATABASE_URL: db, SWITCHBOARD_PORT: '0' });
      assert.equal(p.exitCode, 0, `${args.join(' ')}\n${p.tail()}`);
      assert.match(p.stdout(), usage, args.join(' '));
      assert.equal(p.stderr(), '', args.join(' '));
    });
    assert.equal(existsSync(db), false, 'no store was opened');
  });

  test('--version prints the version and exits 0', async () => {
    const p = await run(['--version']);
    assert.equal(p.exitCode, 0);
    assert.equal(p.output(), `switchboard ${VERSION}\n`);
  });

  test('unknown options, unknown commands, missing and stray arguments are refused in one line with exit 2', async () => {
    const db = join(dir, 'refusals', 'never.db');
    const cases: [string[], RegExp][] = [
      [['start', '--bogus'], /^switchboard: start: unknown option '--bogus'; see 'switchboard start --help'\n$/],
      [['start', 'extra'], /^switchboard: start: unexpected argument 'extra'/],
      [['agent', '--port', '1'], /^switchboard: agent: unknown option '--port'/],
      [['migrate', 'now'], /^switchboard: migrate: unexpected argument 'now'/],
      [['migrate', '--runtime-role'], /^switchboard: migrate: option '--runtime-role' needs a value/],
      [['token'], /^switchboard: token: missing command \(create, list or revoke\)/],
      [['token', 'remove'], /^switchboard: token: unknown command 'remove'/],
      [['token', 'list', 'all'], /^switchboard: token list: unexpected argument 'all'/],
      [['token', 'revoke'], /^switchboard: token revoke: missing the token ID/],
      [['token', 'revoke', 'tok_a', 'tok_b'], /^switchboard: token revoke: unexpected argument 'tok_b'/],
      [['token', 'create', '--name'], /^switchboard: token create: option '--name' needs a value/],
      [['audit'], /^switchboard: audit: missing command \(export\)/],
      [['audit', 'export', '--from', '2026-01-01'], /^switchboard: audit export: unknown option '--from'/],
      [['demo', '--fast'], /^switchboard: demo: unknown option '--fast'/],
      [
        ['demo', '--protocol', 'ipsec'],
        /^switchboard: demo: unknown protocol 'ipsec' \(openvpn or wireguard\); see 'switchboard demo --help'\n$/,
      ],
      [['demo', '--protocol'], /^switchboard: demo: option '--protocol' needs a value/],
      [['launch'], /^switchboard: unknown command 'launch'; see 'switchboard --help'\n$/],
      [['--verbose'], /^switchboard: unknown option '--verbose'/],
      [['--version', 'x'], /^switchboard: --version: unexpected argument 'x'/],
    ];
    await each(cases, async ([args, message]) => {
      const p = await run(args, { SWITCHBOARD_DATABASE_URL: db, SWITCHBOARD_PORT: '0' });
      assert.equal(p.exitCode, 2, `${args.join(' ')}\n${p.tail()}`);
      assert.match(p.stderr(), /^switchboard: [^\n]+\n$/, `one line: ${args.join(' ')}\n${p.stderr()}`);
      assert.match(p.stderr(), message, args.join(' '));
      assert.equal(p.stdout(), '', args.join(' '));
    });
    assert.equal(existsSync(db), false, 'no store was opened');
  });

  test('CLI commands that open the store say which one on stderr; the default is data/switchboard.db under the current directory', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const expected = join(cwd, 'data', 'switchboard.db');
    const first = await run(['token', 'list'], {}, cwd);
    assert.equal(first.exitCode, 0, first.tail());
    assert.equal(first.stderr(), `switchboard: store: SQLite ${expected} (did not exist: created now, empty)\n`);
    assert.ok(existsSync(expected));
    const again = await run(['audit', 'export'], {}, cwd);
    assert.equal(again.exitCode, 0, again.tail());
    assert.equal(again.stderr(), `switchboard: store: SQLite ${expected}\n`);
  });
});

describe('switchboard start: start-up failures are one line naming the setting, exit 1', () => {
  test('port in use: SWITCHBOARD_PORT named, and no bootstrap token minted into the store', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    const db = join(dir, 'port-in-use.db');
    try {
      const p = await run(['start'], {
        SWITCHBOARD_DATABASE_URL: db,
        SWITCHBOARD_PORT: String(port),
        SWITCHBOARD_HOST: '127.0.0.1',
      });
      assertOneLineFailure(
        p,
        new RegExp(
          `^switchboard: SWITCHBOARD_PORT: port ${port} is already in use on 127\\.0\\.0\\.1 \\(EADDRINUSE\\)\\n$`,
        ),
      );
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
    const sqlite = new Database(db, { readonly: true });
    try {
      assert.equal(
        (sqlite.prepare('select count(*) as n from api_tokens').get() as { n: number }).n,
        0,
        'no token stored',
      );
    } finally {
      sqlite.close();
    }
  });

  test('a host that is not an address of this machine, and one that does not resolve: SWITCHBOARD_HOST named', async () => {
    const db = join(dir, 'bad-host.db');
    await each(
      [
        [
          '192.0.2.123',
          /^switchboard: SWITCHBOARD_HOST: 192\.0\.2\.123 is not an address of this machine \(EADDRNOTAVAIL\)\n$/,
        ],
        [
          'no-such-host.invalid',
          /^switchboard: SWITCHBOARD_HOST: cannot resolve the host name "no-such-host\.invalid" \(E[A-Z_]+\)\n$/,
        ],
      ] as [string, RegExp][],
      async ([host, line]) => {
        assertOneLineFailure(
          await run(['start'], { SWITCHBOARD_DATABASE_URL: db, SWITCHBOARD_PORT: '0', SWITCHBOARD_HOST: host }),
          line,
        );
      },
      2,
    );
  });

  test('a SQLite file that cannot be created: SWITCHBOARD_DATABASE_URL named, for start and for a CLI command', async () => {
    const blocker = join(dir, 'a-file-not-a-directory');
    writeFileSync(blocker, '');
    // A file where a directory should be, and a directory that refuses new entries (Node's recursive
    // mkdir spun forever under /proc, and `start` hung without a word).
    for (const [db, args] of [
      [join(blocker, 'switchboard.db'), ['start']],
      [join(blocker, 'switchboard.db'), ['token', 'list']],
      [`/proc/switchboard-none-${process.pid}/switchboard.db`, ['start']],
    ] as const) {
      const p = await run([...args], { SWITCHBOARD_DATABASE_URL: db, SWITCHBOARD_PORT: '0' });
      assertOneLineFailure(
        p,
        new RegExp(
          `^switchboard: SWITCHBOARD_DATABASE_URL: cannot open SQLite ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: E[A-Z]+: `,
        ),
      );
    }
  });

  test('NATS unreachable: SWITCHBOARD_NATS_URL named', async () => {
    const port = await freePort();
    const p = await run(['start'], {
      SWITCHBOARD_DATABASE_URL: join(dir, 'nats.db'),
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_NATS_URL: `nats://127.0.0.1:${port}`,
    });
    assertOneLineFailure(
      p,
      new RegExp(`^switchboard: SWITCHBOARD_NATS_URL: NATS is not reachable at nats://127\\.0\\.0\\.1:${port}`),
    );
  });

  test('PostgreSQL unreachable: SWITCHBOARD_DATABASE_URL named, the password never printed', async () => {
    const port = await freePort();
    const p = await run(['start'], {
      SWITCHBOARD_DATABASE_URL: `postgres://switchboard:hunter2-secret@127.0.0.1:${port}/switchboard`,
      SWITCHBOARD_PORT: '0',
    });
    assertOneLineFailure(
      p,
      new RegExp(
        `^switchboard: SWITCHBOARD_DATABASE_URL: cannot open PostgreSQL postgres://switchboard:\\*\\*\\*@127\\.0\\.0\\.1:${port}/switchboard: not reachable: connection refused \\(ECONNREFUSED\\)\\n$`,
      ),
    );
    assert.doesNotMatch(p.output(), /hunter2/);
  });
});

describe(
  'switchboard start: PostgreSQL refusing the login or missing the database',
  { skip: await postgresSkipReason() },
  () => {
    const admin = new URL(process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');

    test('an unknown role: the login was refused', async () => {
      const url = new URL(admin);
      url.username = `sb_nobody_${process.pid}`;
      url.password = 'not-a-secret-that-may-print';
      const p = await run(['start'], { SWITCHBOARD_DATABASE_URL: url.toString(), SWITCHBOARD_PORT: '0' });
      assertOneLineFailure(
        p,
        /^switchboard: SWITCHBOARD_DATABASE_URL: cannot open PostgreSQL postgres:\/\/sb_nobody_\d+:\*\*\*@[^ ]+: the login was refused .*role "sb_nobody_\d+" does not exist\n$/,
      );
      assert.doesNotMatch(p.output(), /not-a-secret-that-may-print/);
    });

    test('a database that does not exist', async () => {
      const url = new URL(admin);
      url.pathname = `/sb_missing_${process.pid}`;
      const p = await run(['start'], { SWITCHBOARD_DATABASE_URL: url.toString(), SWITCHBOARD_PORT: '0' });
      assertOneLineFailure(
        p,
        /^switchboard: SWITCHBOARD_DATABASE_URL: cannot open PostgreSQL [^ ]+: the database does not exist: database "sb_missing_\d+" does not exist\n$/,
      );
    });
  },
);
