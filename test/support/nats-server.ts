/**
 * NATS for tests: the shared server (127.0.0.1:4222 unless SWITCHBOARD_TEST_NATS_URL says otherwise),
 * and throw-away `nats-server` processes with their own settings (auth, restarts), stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connectNatsBus } from '../../src/bus/nats/nats-bus.js';
import { silentLogger, type Logger } from '../../src/domain/logger.js';

export const TEST_NATS_URL = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
/**
 * This test process's subject prefix on the shared server (the bus's `prefix`, a process's
 * SWITCHBOARD_NATS_PREFIX) for suites that listen on the fixed subjects (session events, gateway
 * reports): test files that run side by side, and other runs on the same NATS, never see each other's
 * messages. One process's buses share it, as one deployment's do.
 */
export const TEST_NATS_PREFIX = `test_${process.pid}_${randomBytes(3).toString('hex')}`;
/** The server binary, from PATH unless SWITCHBOARD_TEST_NATS_SERVER names it. */
export const NATS_SERVER_BIN = process.env.SWITCHBOARD_TEST_NATS_SERVER ?? 'nats-server';

const inCi = process.env.CI === 'true';

/**
 * For `{ skip }`: false when the shared NATS server answers, a skip message when not. Under CI it
 * never skips: it says why on stderr and returns false, so the tests run and fail.
 */
export async function natsSkipReason(): Promise<string | false> {
  try {
    const bus = await connectNatsBus({ url: TEST_NATS_URL, connectTimeoutMs: 2000 });
    await bus.close();
    return false;
  } catch (e) {
    return skipOrFail(e instanceof Error ? e.message : `NATS is not reachable at ${TEST_NATS_URL}`);
  }
}

/** Like `natsSkipReason`, for tests that start their own `nats-server`. */
export function natsServerSkipReason(): string | false {
  const probe = spawnSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return false;
  return skipOrFail(`the ${NATS_SERVER_BIN} binary cannot run (${probe.error?.message ?? probe.stderr.trim()})`);
}

function skipOrFail(message: string): string | false {
  if (inCi) {
    console.error(`${message}; CI requires it, so these tests will fail`);
    return false;
  }
  return `${message}; skipping (set CI=true to make this a failure)`;
}

/** A logger that keeps every line as text, to prove what never reaches it. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    void lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  return {
    lines,
    logger: { ...silentLogger, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

export interface TestNatsServer {
  /** `nats://127.0.0.1:<port>`, without credentials. */
  url: string;
  port: number;
  pid: number;
  /** Stops this process (SIGTERM to its PID, SIGKILL if it lingers) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `nats-server` on 127.0.0.1 with `args` (say `['--user', 'a', '--pass', 'b']`) on `port`, or
 * on a port the server picks, and resolves once it listens.
 */
export async function startNatsServer(args: string[] = [], port?: number): Promise<TestNatsServer> {
  const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port ?? -1), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start in time:\n${log}`)), 10_000);
    child.stderr!.setEncoding('utf8');
    // Read its log to the end (the listener stays), so the server never blocks on a full pipe.
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      const m = /Listening for client connections on [^\s]+:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${log}`));
    });
  });
  let bound: number;
  try {
    bound = await listening;
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return { url: `nats://127.0.0.1:${bound}`, port: bound, pid: child.pid!, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
}
