/** Runs the load generator (load-worker.ts) in a child process and returns what it measured. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LoadSpec {
  url: string;
  connections: number;
  /** Fixed number of requests (each body at most once when amount ≤ bodies.length)… */
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

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-load-'));
  const file = join(dir, 'spec.json');
  writeFileSync(file, JSON.stringify(spec));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`load generator exited with ${code}: ${err.slice(-2000)}`);
    return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
