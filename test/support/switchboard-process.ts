/**
 * `switchboard` as a separate OS process (`node bin/switchboard.js <command>`), for tests of the
 * many-hosts shape: control-plane replicas and agents, each with its own environment, tracked by
 * PID, their output kept for assertions and error messages.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from '../../src/lab/child-reaper.js';
import { ensureBuild } from '../../scripts/ensure-build.mjs';
import { waitFor } from './wait.js';

const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));
const POLL_MS = 20;
// The default wait for a line of output (a start-up's token, its listening line): generous, as a
// loaded CI machine (load 20+) can take well over 20 s to start a process, but bounded.
const START_MS = 60_000;

/** The parent's environment without any SWITCHBOARD_* variable or test-runner marker, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('NODE_TEST')) base[k] = v;
  }
  return { ...base, ...env };
}

export class SwitchboardProcess {
  readonly pid: number;
  private readonly child: ChildProcess;
  private text = '';
  private readonly streams = { stdout: '', stderr: '' };
  private exited = false;
  private code: number | null = null;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    cwd?: string,
    nodeArgs: string[] = [],
  ) {
    this.child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
      env: childEnv(env),
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${name}`);
    this.pid = reapOnExit(this.child);
    for (const [key, stream] of [
      ['stdout', this.child.stdout!],
      ['stderr', this.child.stderr!],
    ] as const) {
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        this.text += d;
        this.streams[key] += d;
      });
    }
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        this.exited = true;
        this.code = code;
        resolve();
      });
    });
  }

  /**
   * Starts `switchboard <args>` with only the given SWITCHBOARD_* variables (in `cwd`, default this
   * one); `nodeArgs` go to node itself (say `--cpu-prof`, which NODE_OPTIONS may not carry).
   */
  static start(
    name: string,
    args: string[],
    env: Record<string, string>,
    options: { cwd?: string; nodeArgs?: string[] } = {},
  ): SwitchboardProcess {
    // The command runs dist/; a build it would do first must not count against the waits below.
    if (!ensureBuild({ ui: args[0] === 'start' }))
      throw new Error('dist/ could not be built (see the TypeScript errors above)');
    return new SwitchboardProcess(name, args, env, options.cwd, options.nodeArgs);
  }

  /** The exit code once it has exited (null while running or when ended by a signal). */
  get exitCode(): number | null {
    return this.code;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Everything it wrote to stdout and stderr so far. */
  output(): string {
    return this.text;
  }

  /** What it wrote to stdout alone. */
  stdout(): string {
    return this.streams.stdout;
  }

  /** What it wrote to stderr alone. */
  stderr(): string {
    return this.streams.stderr;
  }

  /** Resolves with the first match of `pattern` in its output; rejects on timeout or exit. */
  async waitForOutput(pattern: RegExp, timeoutMs = START_MS): Promise<RegExpExecArray> {
    return waitFor(
      () => {
        const m = pattern.exec(this.text);
        if (!m && this.exited) throw new Error(`${this.name} exited before printing ${pattern}\n${this.tail()}`);
        return m;
      },
      timeoutMs,
      () => `${this.name} to print ${pattern}\n${this.tail()}`,
      POLL_MS,
    );
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exited) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // raced with its exit
    }
  }

  /**
   * Stops it (SIGSTOP) and waits until the kernel says it is stopped: from then on it answers nothing,
   * reads nothing and commits nothing until `resume()` (or a SIGKILL).
   */
  async pause(): Promise<void> {
    this.kill('SIGSTOP');
    await waitFor(() => this.exited || this.state() === 'T', 10_000, `${this.name} stopped`, 1);
  }

  /**
   * Stops it (SIGSTOP) the moment `check()` holds, polling `check` without yielding to the event loop
   * (a timer's sleep would give the process seconds under load), for at most `ms`. Whether it held.
   */
  async pauseWhen(check: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!check()) if (Date.now() > end) return false;
    await this.pause();
    return true;
  }

  /** Lets a stopped process run again (SIGCONT). */
  resume(): void {
    this.kill('SIGCONT');
  }

  /** Its state letter from /proc (R, S, T for stopped, ...); '' once it is gone. */
  private state(): string {
    try {
      return /^\d+ \(.*\) (\S)/s.exec(readFileSync(`/proc/${this.pid}/stat`, 'utf8'))?.[1] ?? '';
    } catch {
      return '';
    }
  }

  async waitExited(): Promise<void> {
    await this.exitPromise;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  tail(lines = 20): string {
    return `--- ${this.name} (pid ${this.pid}) ---\n${this.text.trimEnd().split('\n').slice(-lines).join('\n')}`;
  }
}

/**
 * Runs `fn` on every case, `parallel` at a time: each case is typically a whole `switchboard`
 * process, most of whose life is waiting (a connect timeout, a refused handshake), and the machine is
 * shared, so a few at once rather than all.
 */
export async function eachFew<T>(cases: T[], fn: (c: T, index: number) => Promise<void>, parallel = 3): Promise<void> {
  const queue = [...cases.entries()];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await fn(next[1], next[0]);
    }),
  );
}

/** Runs `switchboard <args>` to its end (bounded: a command that keeps running is a failure). */
export async function runToEnd(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<SwitchboardProcess> {
  const p = SwitchboardProcess.start(`switchboard ${args.join(' ')}`, args, env, { cwd });
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  await p.waitExited();
  clearTimeout(timer);
  return p;
}

/**
 * Asserts a start-up failure: exit `exitCode` (1: the world is not as configured; 2: a setting is
 * invalid in itself), exactly one line on stderr matching `line`, no stack trace, no token.
 */
export function assertOneLineFailure(p: SwitchboardProcess, line: RegExp, exitCode = 1): void {
  assert.equal(p.exitCode, exitCode, p.tail());
  const stderr = p.stderr();
  assert.match(stderr, /^switchboard: [^\n]+\n$/, `one line on stderr:\n${stderr}`);
  assert.match(stderr, line);
  assert.doesNotMatch(p.output(), /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(p.output(), /admin token was created|sbt_[a-z0-9]{8}_/, 'no bootstrap token');
}
