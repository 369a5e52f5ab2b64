/** The `switchboard` command. Each subcommand lives in its own file; this one only dispatches. */
import { ConfigError } from '../config.js';

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
  token revoke ID               revoke a token; it is rejected at once
  audit export [--since ISO] [--until ISO]
                                write audit events (since <= at < until, newest first) as JSON lines
  demo                          run a real OpenVPN server with a few clients and Switchboard on it

Configuration comes from SWITCHBOARD_* environment variables (see the README).`;

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
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`switchboard: unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e: unknown) => {
    // A NATS server that is unreachable or refuses the credentials, or a store not set up for this role, is a
    // setup problem: one line, no stack.
    if (e instanceof Error && (e.name === 'NatsConnectError' || e.name === 'StoreSetupError')) {
      process.stderr.write(`switchboard: ${e.message}\n`);
      process.exit(1);
    }
    if (e instanceof ConfigError || (e instanceof Error && e.name === 'UsageError')) {
      process.stderr.write(`switchboard: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`switchboard: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
