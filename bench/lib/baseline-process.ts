import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'bench', 'tmp', 'baselines');

/** The URLs the baseline process prints as its first line (bench/lib/baseline-http.ts). */
export interface BaselineUrls {
  raw: string;
  mercurius: string;
}

/**
 * The process that serves a benchmark's two baselines: compiled JavaScript, as Switchboard's server
 * runs (bench/lib/seeded-server.ts), so neither side pays tsx's per-closure naming helper; killed with
 * the benchmark if it exits first, and stopped with SIGTERM.
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

  /**
   * `script` compiled (with what it imports) and run with `args`, after `imports` (TypeScript
   * preloads: each `--import`ed after tsx), with `env` added.
   */
  static start(
    what: string,
    script: string,
    args: string[],
    o: { imports?: string[]; env?: NodeJS.ProcessEnv } = {},
  ): BaselineProcess {
    const preloads = o.imports?.length ? ['--import', 'tsx', ...o.imports.flatMap((m) => ['--import', m])] : [];
    const child = spawn(process.execPath, [...preloads, compiled(script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...o.env },
    });
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

/**
 * `script` and the modules it imports compiled by tsc into a directory of its own under
 * bench/tmp/baselines (the repository's layout; types are checked by the lint, not here); returns the
 * compiled script's path.
 */
function compiled(script: string): string {
  // One directory per script: two benchmarks compiling at once never write the same file.
  const dir = join(OUT, relative(ROOT, script).replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { noEmit: false, rootDir: ROOT, outDir: dir, sourceMap: false },
      include: [],
      files: [script],
    }),
  );
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config, '--noCheck'], {
    stdio: 'pipe',
  });
  const out = join(dir, relative(ROOT, script)).replace(/\.ts$/, '.js');
  if (!existsSync(out)) throw new Error(`tsc produced no ${out}`);
  return out;
}
