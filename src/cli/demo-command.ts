/**
 * `switchboard demo`: a real OpenVPN server with a handful of real clients on this host, Switchboard
 * attached to it, an admin token and ready-to-paste curl commands; everything torn down on Ctrl-C.
 */
import { consoleLine } from './console-address.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { startSwitchboard } from '../main.js';
import { OpenVpnLab, openvpnAvailable } from '../lab/openvpn-lab.js';
import { parseCommand } from './command-line.js';
import { UsageError } from './usage-error.js';

const USERS = ['alice', 'bob', 'carol', 'dave'];

function have(binary: string, args: string[]): boolean {
  const r = spawnSync(binary, args, { stdio: 'ignore' });
  return r.error === undefined;
}

/** Installs Debian's openvpn when missing and we are root; otherwise says exactly what is needed. */
function ensureOpenVpn(say: (line: string) => void): void {
  if (openvpnAvailable()) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !have('apt-get', ['--version'])) {
    throw new UsageError(
      'the demo needs the openvpn binary: run `sudo apt-get install -y openvpn` (Debian/Ubuntu) and try again',
    );
  }
  say("openvpn is not installed; installing Debian's package (apt-get install -y openvpn)…");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openvpn'], { stdio: 'inherit', env });
  if (!openvpnAvailable()) throw new UsageError('installing openvpn did not work; install it by hand and try again');
}

const USAGE = `Usage: switchboard demo

Brings up a real OpenVPN server (UDP, authorize mode) with four real clients on this host's
loopback, starts Switchboard on it with a throw-away SQLite store, and prints an admin token and
ready-to-paste curl commands. Needs openvpn, openssl and a tun device (root). Ctrl-C stops
everything it started.

Options:
  -h, --help    show this help`;

export async function runDemo(args: string[]): Promise<number> {
  if (parseCommand({ name: 'demo', usage: USAGE, options: {} }, args) === null) return 0;
  const say = (line = '') => process.stdout.write(`${line}\n`);
  ensureOpenVpn(say);
  if (!have('openssl', ['version']))
    throw new UsageError('the demo needs the openssl binary to make its certificates: apt-get install -y openssl');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    say('note: an OpenVPN server needs a tun device; without root this usually fails.');
  }

  const lab = await OpenVpnLab.create();
  let app: Awaited<ReturnType<typeof startSwitchboard>> | undefined;
  let closing = false;
  const teardown = async () => {
    if (closing) return;
    closing = true;
    // The terminal may be gone already (SIGHUP): a write to it fails, and must not stop the teardown.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    say('\nStopping Switchboard, the OpenVPN clients and the server…');
    await app?.close().catch(() => undefined);
    await lab.close();
    say('Done; everything the demo started is gone.');
  };
  // However its terminal goes away — Ctrl-C (SIGINT), a closed window (SIGHUP), a kill (SIGTERM) —
  // the demo stops its server, clients, tun devices and temporary PKI (ca.key included) first.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void teardown().then(() => process.exit(0)));

  try {
    say('Starting a real OpenVPN server (UDP, authorize mode) on 127.0.0.1…');
    const server = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
    const config = {
      ...loadConfig({
        ...process.env,
        SWITCHBOARD_DATABASE_URL: join(lab.dir, 'demo.db'),
        SWITCHBOARD_LOG_LEVEL: process.env.SWITCHBOARD_LOG_LEVEL ?? 'warn',
      }),
      gateways: [
        {
          id: 'demo-1',
          name: 'Demo gateway',
          region: 'local',
          protocol: 'openvpn' as const,
          mode: 'authorize' as const,
          management: server.management,
          snapshotIntervalMs: 5000,
        },
      ],
    };
    let token = '';
    app = await startSwitchboard(config, { onBootstrapToken: (s) => (token = s) });
    say(`Connecting ${USERS.length} real OpenVPN clients (${USERS.join(', ')})…`);
    for (const user of USERS) await server.startClient({ user });
    let first: string | undefined;
    for (let i = 0; i < 100 && !first; i++) {
      const page = await app.store.sessions.listOnline({ first: 1, filter: { userName: 'alice' } });
      first = page.rows[0]?.id;
      if (!first) await new Promise((r) => setTimeout(r, 100));
    }
    const url = `${app.url}/graphql`;
    say();
    say('Switchboard is running against a real OpenVPN server with real clients.');
    say(`  ${consoleLine(app.url)}`);
    say(`  API:          ${url}`);
    say(`  Admin token:  ${token}`);
    say();
    say('Who is online:');
    say(`  curl -s ${url} -H 'Content-Type: application/json' -H 'Authorization: Bearer ${token}' \\`);
    say(
      `    -d '{"query":"{ onlineSessions(first: 10) { totalCount edges { node { id user { name } clientAddress virtualAddress connectedAt } } } }"}'`,
    );
    say();
    say(`End alice's session (${first ?? 'see the list above'}) — her OpenVPN client is told to halt and exits:`);
    say(`  curl -s ${url} -H 'Content-Type: application/json' -H 'Authorization: Bearer ${token}' \\`);
    say(
      `    -d '{"query":"mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }","variables":{"onlineSessionId":"${first ?? 'sess_…'}"}}'`,
    );
    say();
    say('Run the second command twice: the second answer is SESSION_NOT_FOUND (HTTP 400).');
    say(`Client logs are in ${server.dir}. Press Ctrl-C to stop everything.`);
    return -1;
  } catch (e) {
    await teardown();
    throw e;
  }
}
