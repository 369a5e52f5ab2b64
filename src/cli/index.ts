/** The `switchboard` command. Each subcommand lives in its own file; this one only dispatches. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';
import { usageError } from './command-line.js';
import { UsageError } from './usage-error.js';

const USAGE = `Usage: switchboard <command> [options]

Commands:
  start                         start the control plane (API, sync; in-process agents unless NATS is set)
  agent                         run next to gateways: report their sessions and execute disconnects over
                                NATS (needs SWITCHBOARD_NATS_URL and SWITCHBOARD_CONFIG; no database)
  migrate [--runtime-role NAME]
                                apply database migrations as the owner role; on PostgreSQL, grant NAME
                                (the role replicas run as) reading and writing, the audit trail append-only
  token create --name NAME --scope SCOPE [--scope SCOPE ...] [--expires-in 30d]
                                create an API token; prints the token alone on stdout
  token list                    list API tokens (never their secrets)
  token revoke ID [--force]     revoke a token; it is rejected at once (--force: the last admin token)
  audit export [--since ISO] [--until ISO]
                                write audit events (since <= at < until, newest first) as JSON lines
  demo [--protocol openvpn|wireguard]
                                run a real OpenVPN (default) or WireGuard server with a few real
                                clients on this host and Switchboard on it
  help [COMMAND]                show this help, or a command's

Options:
  -h, --help                    show this help (after a command: that command's)
  --version                     print the version

Configuration comes from SWITCHBOARD_* environment variables (see the README). The store is
SWITCHBOARD_DATABASE_URL, by default data/switchboard.db under the current directory.`;

/** package.json's version: one level above src/ and dist/ alike. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// Each command is loaded when run: `switchboard agent` on a gateway host loads no API, store or demo code.
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return (await import('./start-command.js')).runStart(rest);
    case 'agent':
      return (await import('./agent-command.js')).runAgent(rest);
    case 'migrate':
      return (await import('./migrate-command.js')).runMigrate(rest);
    case 'token':
      return (await import('./token-command.js')).runToken(rest);
    case 'audit':
      return (await import('./audit-command.js')).runAudit(rest);
    case 'demo':
      return (await import('./demo-command.js')).runDemo(rest);
    case 'help':
      // `switchboard help token` is `switchboard token --help`.
      if (rest.length > 0) return main([...rest, '--help']);
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case '--version':
      if (rest.length > 0) throw usageError('--version', `unexpected argument '${rest[0]}'`);
      process.stdout.write(`switchboard ${version()}\n`);
      return 0;
    case undefined:
      process.stderr.write(`${USAGE}\n`);
      return 2;
    default:
      throw new UsageError(
        `${command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`}; see 'switchboard --help'`,
      );
  }
}

/** Failures of the set-up, not of the program: the message is one line that names the setting. */
const SETUP_ERRORS = new Set(['StoreSetupError', 'StartupError']);

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof ConfigError || (e instanceof Error && e.name === 'UsageError')) {
      process.stderr.write(`switchboard: ${e.message}\n`);
      process.exit(2);
    }
    // The store, the port, the host or NATS: one line, no stack (the message never holds a secret).
    if (e instanceof Error && SETUP_ERRORS.has(e.name)) {
      process.stderr.write(`switchboard: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`switchboard: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
