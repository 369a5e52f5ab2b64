import { loadConfig } from '../config.js';
import { consoleLine } from './console-address.js';
import { describeStore, startSwitchboard } from '../main.js';
import { errorText } from '../domain/errors.js';
import { parseCommand } from './command-line.js';

const USAGE = `Usage: switchboard start

Starts the control plane: the GraphQL API and the operator console, the store, session sync and,
without NATS, one in-process agent per gateway of SWITCHBOARD_CONFIG. On an empty store it creates
an admin token and prints it once, after the API listens. SIGINT or SIGTERM stop it.

Takes no arguments: it is configured by SWITCHBOARD_* environment variables (see the README).
The store is SWITCHBOARD_DATABASE_URL, by default data/switchboard.db under the current directory.

Options:
  -h, --help    show this help`;

/** Prints the bootstrap token once, clearly marked, to the terminal — never through the logger. */
export function printBootstrapToken(secret: string): void {
  const bar = '='.repeat(78);
  process.stderr.write(
    `\n${bar}\n  No API token existed, so an admin token was created. It is shown ONCE:\n\n    ${secret}\n\n` +
      `  Store it now (e.g. export SWITCHBOARD_TOKEN=...). Only its hash is kept.\n${bar}\n\n`,
  );
}

export async function runStart(args: string[]): Promise<number> {
  if (parseCommand({ name: 'start', usage: USAGE, options: {} }, args) === null) return 0;
  const config = loadConfig();
  const app = await startSwitchboard(config, { onBootstrapToken: printBootstrapToken });
  process.stderr.write(
    `Switchboard is listening on ${app.url}/graphql (health: ${app.url}/healthz; store: ${describeStore(config.databaseUrl).label})\n`,
  );
  process.stderr.write(`${consoleLine(app.url)}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: shutting down\n`);
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGHUP reloads the gateway file (added, removed or changed gateways, no restart); it never stops the server.
  process.on('SIGHUP', () => {
    if (!stopping)
      void app
        .reloadGateways()
        .catch((e: unknown) => process.stderr.write(`switchboard: gateway reload failed: ${errorText(e)}\n`));
  });
  return -1; // keep running
}
