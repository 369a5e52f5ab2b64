/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by file.
 *   node --import tsx bench/profile-top.ts <file.cpuprofile> [rows]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, rowsArg] = process.argv.slice(2);
process.stdout.on('error', () => process.exit(0)); // piped into head
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [rows]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const rows = Number(rowsArg ?? 25);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const short = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|src|bench|test)\//, '$1/') || '(native)';
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of self) {
  const { callFrame: c } = byId.get(id)!;
  const key = `${c.functionName || '(anonymous)'}  ${short(c.url)}:${c.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const f = short(c.url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*/, '$1');
  files.set(f, (files.get(f) ?? 0) + us);
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, rows))
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
// Inclusive time of our own code (src/, or dist/ for the compiled server): every sample counts once for each src function on its stack.
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const keyOf = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const inclusive = new Map<string, number>();
profile.samples.forEach((leaf, i) => {
  const seen = new Set<string>();
  for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id)!;
    if (/\/(src|dist)\//.test(n.callFrame.url)) seen.add(keyOf(n));
  }
  for (const k of seen) inclusive.set(k, (inclusive.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
print('self time by function', fn);
print('self time by file / package', files);
print('inclusive time of src/ functions', inclusive);
