/**
 * `switchboard start` as its own OS process (SQLite, single host), its one gateway a management
 * stand-in with `sessions` clients, waited for until every session is visible through the API.
 * The server is what `npm start` runs, `bin/switchboard.js start`: the compiled JavaScript in dist/
 * (rebuilt first when older than the sources), as a production install runs it, not the TypeScript
 * sources through tsx (whose per-closure naming helper alone cost 15–19 µs of a disconnect's ~750 µs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagementStandin } from './management-standin.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'switchboard.js');

export const GATEWAY_ID = 'gw-bench';

export interface SeededServer {
  url: string;
  token: string;
  pid: number;
  dir: string;
  dbPath: string;
  standin: ManagementStandin;
  gql(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }>;
  /** Resident set size of the server process, bytes (from /proc). */
  rss(): number;
  close(): Promise<void>;
}

export async function startSeededServer(options: {
  sessions: number;
  /** Node flags before the command (e.g. a preload). */
  extraArgs?: string[];
  env?: Record<string, string>;
}): Promise<SeededServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
  const standin = await ManagementStandin.start(join(dir, 'mgmt.sock'));
  standin.addClients(options.sessions);
  const config = join(dir, 'gateways.json');
  writeFileSync(
    config,
    JSON.stringify({
      gateways: [
        {
          id: GATEWAY_ID,
          name: 'bench gateway',
          region: 'bench',
          protocol: 'openvpn',
          mode: 'authorize',
          management: standin.management,
          // The periodic full snapshot is measured by the reconnect-storm benchmark; here it would land
          // inside the measured windows at random.
          snapshotIntervalSeconds: 3600,
        },
      ],
    }),
  );
  const dbPath = join(dir, 'switchboard.db');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SWITCHBOARD_PORT: '0',
    SWITCHBOARD_DATABASE_URL: dbPath,
    SWITCHBOARD_CONFIG: config,
    SWITCHBOARD_LOG_LEVEL: 'warn',
    // Rate limits are a policy, not a cost: off, so the load measures the work, not the limiter.
    SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0',
    SWITCHBOARD_RATE_LIMIT_PER_IP: '0',
    ...options.env,
  };
  // BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it exits (see bench/profile-top.ts).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const flags = [...profile, ...(options.extraArgs ?? [])];
  const args = [...flags, BIN, 'start'];
  const child: ChildProcess = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const kill = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const waitFor = async (re: RegExp, ms: number): Promise<string> => {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(text);
      if (m) return m[1]!;
      if (exited || Date.now() > end)
        throw new Error(`switchboard start: no ${re} (${exited ? 'exited' : 'timeout'})\n${text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    // Generous: on a shared machine under heavy load, loading the sources alone took over 30 s.
    const token = await waitFor(/^\s{4}(sbt_[a-z0-9_]+)$/m, 120_000);
    const url = await waitFor(/listening on (http:\/\/\S+)\/graphql/, 120_000);
    const gql: SeededServer['gql'] = async (query, variables = {}) => {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
    };
    const server: SeededServer = {
      url: `${url}/graphql`,
      token,
      pid: child.pid!,
      dir,
      dbPath,
      standin,
      gql,
      rss: () => rssOf(child.pid!),
      async close() {
        if (!exited) child.kill('SIGTERM');
        const timer = setTimeout(kill, 5000);
        await exit;
        clearTimeout(timer);
        process.removeListener('exit', kill);
        await standin.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitForCount(server, options.sessions, 180_000);
    } catch (e) {
      throw new Error(
        `${e instanceof Error ? e.message : String(e)}\n--- switchboard start (exited: ${exited}) ---\n${text.slice(-3000)}`,
      );
    }
    return server;
  } catch (e) {
    kill();
    await exit;
    await standin.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Polls `totalCount` until it is `n`. */
export async function waitForCount(server: Pick<SeededServer, 'gql'>, n: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    // While a large snapshot is being applied the server may not answer in time: keep asking.
    const r = await server
      .gql('{ onlineSessions(first: 1) { totalCount } }')
      .catch((e: unknown) => ({ data: undefined, errors: [String(e)] }));
    const count = (r.data?.onlineSessions as { totalCount?: number } | undefined)?.totalCount;
    if (count === n) return;
    if (Date.now() > end)
      throw new Error(`only ${count} of ${n} sessions visible after ${ms} ms: ${JSON.stringify(r.errors ?? '')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
