/**
 * Summarises V8 `.cpuprofile`s (from `node --cpu-prof`): self time by function and by file, summed
 * over every profile given (a directory stands for the `.cpuprofile`s in it, say a BENCH_CPU_PROF dir).
 *   node --import tsx bench/profile-top.ts <file.cpuprofile | dir> ... [rows]
 */
import { readFileSync, statSync } from 'node:fs';
import { add, indexProfile, keyOf, ownFrames, profileFiles, short, type Profile } from './lib/cpuprofile.js';

const args = process.argv.slice(2);
process.stdout.on('error', () => process.exit(0)); // piped into head
// A last argument that is a whole number (and no file of that name) is the row count.
const last = args.at(-1);
const rowsArg = last !== undefined && /^\d+$/.test(last) && !exists(last) ? args.pop() : undefined;
const files = profileFiles(args);
if (files.length === 0) throw new Error('usage: profile-top.ts <file.cpuprofile | dir> ... [rows]');
const rows = Number(rowsArg ?? 25);

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

const fn = new Map<string, number>();
const byFile = new Map<string, number>();
// Inclusive time of our own code (src/, or dist/ for the compiled server): every sample counts once for each src function on its stack.
const inclusive = new Map<string, number>();
let total = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const index = indexProfile(profile);
  const { byId } = index;
  profile.samples.forEach((leaf, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const { callFrame: c } = byId.get(leaf)!;
    add(fn, keyOf(byId.get(leaf)!), us);
    add(byFile, short(c.url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*/, '$1'), us);
    for (const k of ownFrames(index, leaf)) add(inclusive, k, us);
  });
}
const print = (title: string, m: Map<string, number>) => {
  console.log(
    `\n${title} (total ${(total / 1000).toFixed(0)} ms${files.length > 1 ? ` over ${files.length} profiles` : ''})`,
  );
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, rows))
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
print('self time by function', fn);
print('self time by file / package', byFile);
print('inclusive time of src/ functions', inclusive);
