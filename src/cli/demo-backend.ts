/**
 * One protocol's part of `switchboard demo`: its real daemon and real clients on this host, the
 * gateway entry Switchboard gets for it, and what the demo says about them. The demo itself
 * (demo-command.ts) starts Switchboard, prints the token and commands, and tears down on a signal.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type { GatewayConfig } from '../gateways/gateway-config.js';
import { UsageError } from './usage-error.js';

export type Say = (line?: string) => void;

/** A demo's daemon and clients while they run. */
export interface DemoRun {
  /** A private temporary directory (Switchboard's store goes here); `close()` removes it. */
  readonly dir: string;
  readonly gateway: GatewayConfig;
  /** Starts a real client of `user`; resolves once its tunnel is up. */
  connect(user: string): Promise<void>;
  /** What ending alice's session does to her client, after "End alice's session (…) — ". */
  readonly disconnectEffect: string;
  /** The last lines once the clients are up: where to look. "Press Ctrl-C to stop everything." follows. */
  notes(): string;
  /** Stops every process it started and removes what it made (namespaces, sockets, keys, files). */
  close(): Promise<void>;
}

export interface DemoBackend {
  /** E.g. "a real OpenVPN server": the subject of "Switchboard is running against …". */
  readonly daemon: string;
  /** E.g. "real OpenVPN clients": what "Connecting 4 … (alice, …)" connects. */
  readonly clients: string;
  /** Makes sure the daemon can run here (installing Debian's packages as root); a UsageError names what is missing. */
  prepare(say: Say): void;
  /** Starts the daemon, ready for clients of `users`. */
  start(say: Say, users: readonly string[]): Promise<DemoRun>;
}

/** Whether `binary` can be started (`args`: a harmless invocation such as `--version`). */
export function runs(binary: string, args: string[]): boolean {
  return spawnSync(binary, args, { stdio: 'ignore' }).error === undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Installs Debian's `packages` when `available()` says the demo's daemon is missing and we are root
 * with apt-get; otherwise a UsageError says exactly what to install.
 */
export function ensureInstalled(say: Say, what: string, packages: string[], available: () => boolean): void {
  if (available()) return;
  const command = `apt-get install -y ${packages.join(' ')}`;
  if (!isRoot() || !runs('apt-get', ['--version'])) {
    throw new UsageError(`the demo needs ${what}: run \`sudo ${command}\` (Debian/Ubuntu) and try again`);
  }
  say(`${what} is not installed; installing Debian's package (${command})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
  if (!available()) throw new UsageError(`installing ${what} did not work; install it by hand and try again`);
}
