/** The load generator process (load-worker.ts, autocannon): one per benchmark, fed specs over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LoadSpec {
  url: string;
  connections: number;
  /** A fixed number of requests (each body at most once when amount ≤ bodies.length)… */
  amount?: number;
  /** …or a fixed duration. */
  durationS?: number;
  headers?: Record<string, string>;
  /** Request bodies, sent in order and cycled. */
  bodies: string[];
  /** A substring every good reply contains. */
  expect: string;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  /** Milliseconds. */
  latency: { p50: number; p90: number; p99: number; mean: number; max: number };
  non2xx: number;
  errors: number;
  /** Replies that were not the expected answer (GraphQL errors included). */
  errorBodies: number;
  firstError: string | null;
}

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Reply = { ready: true } | { ok: true; result: LoadResult } | { ok: false; error: string };

export class LoadGenerator {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exitKill: () => void,
  ) {}

  static async start(): Promise<LoadGenerator> {
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exitKill = () => child.kill('SIGKILL');
    process.once('exit', exitKill);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    });
    return new LoadGenerator(child, exitKill);
  }

  run(spec: LoadSpec): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: Reply) => {
        this.child.removeListener('exit', onExit);
        if ('ok' in m && m.ok) resolve(m.result);
        else reject(new Error(`load generator: ${'error' in m ? m.error : 'unexpected message'}`));
      });
      this.child.send(spec);
    });
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.exitKill);
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
