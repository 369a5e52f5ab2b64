/** The API probe process (probe-worker.ts): started once, then `measure()` around whatever is timed. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProbeResult, ProbeSpec } from './probe-worker.js';

const WORKER = fileURLToPath(new URL('./probe-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class Probe {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<Probe> {
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`probe exited with ${code}`)));
    });
    return new Probe(child);
  }

  /**
   * Probes while `work` runs (from when the probe hears "start", just before `work` begins, until it
   * hears "stop", just after): every sample, at least one, and the value of `work`.
   */
  async measure<T>(spec: ProbeSpec, work: () => Promise<T>): Promise<{ value: T; result: ProbeResult }> {
    const done = new Promise<ProbeResult>((resolve) => this.child.once('message', (m: ProbeResult) => resolve(m)));
    this.child.send({ start: spec });
    try {
      const value = await work();
      this.child.send('stop');
      return { value, result: await done };
    } catch (e) {
      this.child.send('stop');
      await done;
      throw e;
    }
  }

  close(): void {
    this.child.kill('SIGTERM');
  }
}
