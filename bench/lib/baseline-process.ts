import { spawn, type ChildProcess } from 'node:child_process';

/** The URLs the baseline process prints as its first line (bench/lib/baseline-http.ts). */
export interface BaselineUrls {
  raw: string;
  mercurius: string;
}

/**
 * The process that serves a benchmark's two baselines: started through tsx, killed with the benchmark
 * if it exits first, and stopped with SIGTERM.
 */
export class BaselineProcess {
  /** The first line the baselines print; rejects if they exit before printing it. */
  readonly urls: Promise<BaselineUrls>;
  private readonly killOnExit = () => this.child.kill('SIGKILL');

  private constructor(
    private readonly child: ChildProcess,
    what: string,
  ) {
    process.once('exit', this.killOnExit);
    this.urls = new Promise<BaselineUrls>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as BaselineUrls);
      });
      child.on('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
    });
    this.urls.catch(() => {}); // awaited by the caller; no unhandled rejection before that
  }

  /** `script` run with `args`, after `imports` (each `--import`ed after tsx), with `env` added. */
  static start(
    what: string,
    script: string,
    args: string[],
    o: { imports?: string[]; env?: NodeJS.ProcessEnv } = {},
  ): BaselineProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', ...(o.imports ?? []).flatMap((m) => ['--import', m]), script, ...args],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...o.env } },
    );
    return new BaselineProcess(child, what);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    this.child.kill('SIGTERM');
    await new Promise((r) => (this.child.exitCode !== null ? r(null) : this.child.once('exit', r)));
  }
}
