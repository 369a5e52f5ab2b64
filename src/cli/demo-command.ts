/**
 * `switchboard demo [--protocol openvpn|wireguard]`: a real VPN server with a handful of real clients
 * on this host, Switchboard attached to it, an admin token and ready-to-paste curl commands;
 * everything torn down on Ctrl-C, a closed terminal or a kill. Each protocol's daemon and clients are
 * a DemoBackend (demo-openvpn.ts, demo-wireguard.ts).
 */
import { join } from 'node:path';
import { consoleLine } from './console-address.js';
import { loadConfig } from '../config.js';
import { startSwitchboard } from '../main.js';
import { parseCommand, usageError } from './command-line.js';
import type { DemoBackend, DemoRun, Say } from './demo-backend.js';
import { openvpnDemo } from './demo-openvpn.js';
import { wireguardDemo } from './demo-wireguard.js';

const USERS = ['alice', 'bob', 'carol', 'dave'];

const BACKENDS: Record<string, DemoBackend> = { openvpn: openvpnDemo, wireguard: wireguardDemo };

const USAGE = `Usage: switchboard demo [--protocol openvpn|wireguard]

Brings up a real VPN server with four real clients on this host, starts Switchboard on it with a
throw-away SQLite store, and prints an admin token and ready-to-paste curl commands. Ctrl-C stops
everything it started.

  openvpn     (default) an OpenVPN server (UDP, authorize mode) and its clients on this host's
              loopback. Needs openvpn, openssl and a tun device (root).
  wireguard   a wireguard-go server and wireguard-go clients, each in a network namespace of its
              own. Needs wireguard-go, wg, ip and root.

Options:
  --protocol NAME   openvpn (default) or wireguard
  -h, --help        show this help`;

export async function runDemo(args: string[]): Promise<number> {
  const parsed = parseCommand({ name: 'demo', usage: USAGE, options: { protocol: { type: 'string' } } }, args);
  if (parsed === null) return 0;
  const protocol = parsed.values.protocol ?? 'openvpn';
  const backend = BACKENDS[protocol];
  if (!backend) throw usageError('demo', `unknown protocol '${protocol}' (openvpn or wireguard)`);
  const say: Say = (line = '') => process.stdout.write(`${line}\n`);
  backend.prepare(say);

  const starting = backend.start(say, USERS);
  let app: Awaited<ReturnType<typeof startSwitchboard>> | undefined;
  let closing = false;
  const teardown = async () => {
    if (closing) return;
    closing = true;
    // The terminal may be gone already (SIGHUP): a write to it fails, and must not stop the teardown.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    say('\nStopping Switchboard, the clients and the server…');
    await app?.close().catch(() => undefined);
    // A signal during start-up waits for the server to be up, then removes it with the rest.
    await (await starting.catch(() => undefined))?.close();
    say('Done; everything the demo started is gone.');
  };
  // However its terminal goes away — Ctrl-C (SIGINT), a closed window (SIGHUP), a kill (SIGTERM) —
  // the demo stops its server, clients, devices, namespaces and temporary keys first.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void teardown().then(() => process.exit(0)));

  try {
    const run = await starting;
    const config = {
      ...loadConfig({
        ...process.env,
        SWITCHBOARD_DATABASE_URL: join(run.dir, 'demo.db'),
        SWITCHBOARD_LOG_LEVEL: process.env.SWITCHBOARD_LOG_LEVEL ?? 'warn',
      }),
      gateways: [run.gateway],
    };
    let token = '';
    app = await startSwitchboard(config, { onBootstrapToken: (s) => (token = s) });
    say(`Connecting ${USERS.length} ${backend.clients} (${USERS.join(', ')})…`);
    for (const user of USERS) await run.connect(user);
    const first = await everyoneOnline(app, run.gateway.id);
    printInstructions(say, { backend, run, baseUrl: app.url, token, first });
    return -1;
  } catch (e) {
    await teardown();
    throw e;
  }
}

/** Alice's session id once Switchboard lists every user's session (undefined if it did not within 30 s). */
async function everyoneOnline(app: Awaited<ReturnType<typeof startSwitchboard>>, gatewayId: string) {
  for (let i = 0; i < 300; i++) {
    const { rows } = await app.store.sessions.listOnline({ first: USERS.length, filter: { gatewayId } });
    if (USERS.every((u) => rows.some((s) => s.userName === u))) return rows.find((s) => s.userName === 'alice')!.id;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

function printInstructions(
  say: Say,
  o: { backend: DemoBackend; run: DemoRun; baseUrl: string; token: string; first: string | undefined },
): void {
  const url = `${o.baseUrl}/graphql`;
  const curl = `  curl -s ${url} -H 'Content-Type: application/json' -H 'Authorization: Bearer ${o.token}' \\`;
  say();
  say(`Switchboard is running against ${o.backend.daemon} with real clients.`);
  say(`  ${consoleLine(o.baseUrl)}`);
  say(`  API:          ${url}`);
  say(`  Admin token:  ${o.token}`);
  say();
  say('Who is online:');
  say(curl);
  say(
    `    -d '{"query":"{ onlineSessions(first: 10) { totalCount edges { node { id user { name } clientAddress virtualAddress connectedAt } } } }"}'`,
  );
  say();
  say(`End alice's session (${o.first ?? 'see the list above'}) — ${o.run.disconnectEffect}:`);
  say(curl);
  say(
    `    -d '{"query":"mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }","variables":{"onlineSessionId":"${o.first ?? 'sess_…'}"}}'`,
  );
  say();
  say('Run the second command twice: the second answer is SESSION_NOT_FOUND (HTTP 400).');
  say(`${o.run.notes()} Press Ctrl-C to stop everything.`);
}
