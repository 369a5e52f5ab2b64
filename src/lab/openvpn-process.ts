/**
 * One daemon or client process started by a lab (`openvpn` unless told otherwise): spawned in the
 * foreground (never `--daemon`, which would re-parent it), tracked by PID, its log file readable and
 * waitable: the file it writes itself (`--log`), or its stdout and stderr sent there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { reapOnExit } from './child-reaper.js';

const POLL_MS = 20;

export interface WaitForLogOptions {
  /** Only look at the log from this character offset on (see `logLength()`). */
  from?: number;
  timeoutMs?: number;
}

/** How a lab process is started, beyond its arguments. */
export interface LabProcessOptions {
  /** The program (default `openvpn`). */
  command?: string;
  /** Written to its stdin, which then stays open (e.g. a password for `--passwd-on-stdin`). */
  stdin?: string;
  /** Send stdout and stderr to the log file (for programs without a `--log` option). */
  outputToLog?: boolean;
}

export class LabProcess {
  readonly pid: number;
  private readonly child: ChildProcess;
  private stderr = '';
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private hasExited = false;
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly name: string,
    readonly logPath: string,
    args: string[],
    cwd: string,
    options: LabProcessOptions = {},
  ) {
    const command = options.command ?? 'openvpn';
    const out = options.outputToLog ? openSync(logPath, 'a') : 'ignore';
    try {
      this.child = spawn(command, args, {
        cwd,
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', out, options.outputToLog ? out : 'pipe'],
      });
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
    if (this.child.pid === undefined) throw new Error(`lab: could not start ${command} for ${name}`);
    if (options.stdin !== undefined) {
      this.child.stdin?.on('error', () => undefined); // it may exit before reading
      this.child.stdin?.write(options.stdin);
    }
    this.pid = reapOnExit(this.child);
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.hasExited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }

  get exited(): boolean {
    return this.hasExited;
  }

  /** The whole `--log` file so far ('' before it exists). */
  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** A mark for `waitForLog({ from })`: only lines written after this call count. */
  logLength(): number {
    return this.log().length;
  }

  /** Resolves with the first log line matching `pattern`; rejects on timeout or if the process exits first. */
  async waitForLog(pattern: RegExp, options: WaitForLogOptions = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const exitedBefore = this.hasExited;
      const text = this.log().slice(options.from ?? 0);
      const line = text.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (exitedBefore)
        throw new Error(`lab: ${this.name} exited (${this.describeExit()}) before logging ${pattern}\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`lab: ${this.name} did not log ${pattern} in time\n${this.tail()}`);
      await sleep(POLL_MS);
    }
  }

  /** Resolves with the exit code (null when ended by a signal); rejects after `timeoutMs`. */
  async waitExited(timeoutMs = 20_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`lab: ${this.name} (pid ${this.pid}) still running after ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.exitPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.exitCode;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.hasExited) return;
    this.signal('SIGTERM');
    try {
      await this.waitExited(graceMs);
    } catch {
      this.signal('SIGKILL');
      await this.exitPromise;
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.hasExited) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // raced with its exit
    }
  }

  /** The last lines of the log and stderr, for error messages. */
  tail(lines = 15): string {
    const log = this.log().trimEnd().split('\n').slice(-lines).join('\n');
    return `--- ${this.name} log (${this.logPath}) ---\n${log}${this.stderr ? `\n--- stderr ---\n${this.stderr}` : ''}`;
  }

  private describeExit(): string {
    return this.exitSignal ? `signal ${this.exitSignal}` : `code ${this.exitCode}`;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
