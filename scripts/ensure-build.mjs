// Builds dist/ from a source checkout when it is missing or older than the sources, so the
// `switchboard` command (bin/switchboard.js) and `npm start` always run compiled JavaScript in one
// process and never a stale build. Run on the first start and after any change to src/ or ui/.
// One build at a time: a second process waits for the first one's lock.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = (...p) => join(root, ...p);

/** Newest modification time (ms) of the files under `dir` that `keep` accepts. */
function newest(dir, keep = () => true) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(p, keep));
    else if (keep(entry.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const isSource = (name) => /\.tsx?$/.test(name) && !/\.test(-support)?\.ts$|\.contract\.ts$/.test(name);

/** Milliseconds of the build stamp, or 0 when there is none. */
function stampOf(file) {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

function run(args, what) {
  process.stderr.write(`switchboard: building ${what}…\n`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0;
}

/** Waits (up to two minutes) for another process's build lock, then takes it. */
function lock() {
  const dir = at('dist', '.build-lock');
  mkdirSync(at('dist'), { recursive: true });
  const until = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(dir);
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      // A lock older than the deadline belongs to a build that died.
      if (Date.now() > until || Date.now() - statSync(dir, { throwIfNoEntry: false })?.mtimeMs > 120_000)
        rmSync(dir, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

/**
 * Makes dist/ current. `ui`: also the operator console (optional for a start: the API works without
 * it). `force`: build both whatever their age, and fail if either fails (`npm run build`).
 * Returns false when what had to be built could not be.
 */
export function ensureBuild({ ui = true, force = false } = {}) {
  if (!existsSync(at('src'))) return true; // an installed package ships dist/ only
  const serverStamp = at('dist', '.server-built');
  const serverSources = () =>
    Math.max(
      newest(at('src'), isSource),
      statSync(at('tsconfig.json')).mtimeMs,
      statSync(at('tsconfig.build.json')).mtimeMs,
    );
  const uiStamp = at('dist', 'ui', 'index.html');
  const uiSources = () => (existsSync(at('ui')) ? newest(at('ui'), (n) => !n.endsWith('.test.ts')) : 0);
  const fresh = () => stampOf(serverStamp) > serverSources() && (!ui || stampOf(uiStamp) > uiSources());
  if (!force && fresh()) return true;
  const unlock = lock();
  try {
    if (force || stampOf(serverStamp) <= serverSources()) {
      // The stamp carries the time the build started: a source saved during the build is newer.
      const started = Date.now() / 1000;
      if (!run([at('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], 'the server'))
        return false;
      writeFileSync(serverStamp, 'built from src/ by scripts/ensure-build.mjs\n');
      utimesSync(serverStamp, started, started);
    }
    if (ui && (force || stampOf(uiStamp) <= uiSources())) {
      if (
        !run(
          [
            at('node_modules', 'vite', 'bin', 'vite.js'),
            'build',
            '--config',
            'ui/vite.config.ts',
            '--logLevel',
            'warn',
          ],
          'the operator console',
        )
      ) {
        if (force) return false;
        process.stderr.write('switchboard: the console could not be built; the API works without it.\n');
      }
    }
    return true;
  } finally {
    unlock();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(ensureBuild({ force: process.argv.includes('--force') }) ? 0 : 1);
}
