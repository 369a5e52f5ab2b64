/**
 * The long synchronous slices in V8 `.cpuprofile`s (from `node --cpu-prof`, say a BENCH_CPU_PROF dir):
 * a slice is a run of samples between two `(idle)` ones, i.e. what the event loop ran before it could
 * take its next event. Prints how many slices of each length there were, and for the slices of at
 * least `min` ms (default 10) what ran in them: self time by function, inclusive time of src/ functions.
 *   node --import tsx bench/profile-slices.ts <file.cpuprofile | dir> ... [min-ms]
 */
import { readFileSync } from 'node:fs';
import { add, indexProfile, keyOf, ownFrames, profileFiles, type Profile } from './lib/cpuprofile.js';

const args = process.argv.slice(2);
process.stdout.on('error', () => process.exit(0)); // piped into head
const last = args.at(-1);
const minMs = last !== undefined && /^\d+(\.\d+)?$/.test(last) ? Number(args.pop()) : 10;
const files = profileFiles(args);
if (files.length === 0) throw new Error('usage: profile-slices.ts <file.cpuprofile | dir> ... [min-ms]');

const BUCKETS = [1, 5, 10, 20, 50, 100, 200, Infinity];

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const index = indexProfile(profile);
  const { byId } = index;
  // Slices: [first sample, last sample] of each run of busy samples.
  const slices: { from: number; to: number; us: number }[] = [];
  let from = -1;
  let us = 0;
  profile.samples.forEach((leaf, i) => {
    const idle = byId.get(leaf)!.callFrame.functionName === '(idle)';
    if (idle) {
      if (from >= 0) slices.push({ from, to: i - 1, us });
      from = -1;
      us = 0;
    } else {
      if (from < 0) from = i;
      // A sample's delta is the time since the one before it: this sample's share.
      us += profile.timeDeltas[i] ?? 0;
    }
  });
  const counts = BUCKETS.map(() => 0);
  for (const s of slices) counts[BUCKETS.findIndex((b) => s.us / 1000 < b)]!++;
  const longest = [...slices].sort((a, b) => b.us - a.us);
  console.log(
    `\n${file}: ${slices.length} slices, longest ${longest
      .slice(0, 8)
      .map((s) => (s.us / 1000).toFixed(0))
      .join(', ')} ms`,
  );
  console.log(
    BUCKETS.map((b, i) => `${i === 0 ? '<' : `${BUCKETS[i - 1]}-`}${b === Infinity ? '' : b} ms: ${counts[i]}`).join(
      '  ',
    ),
  );
  // Each of the longest slices: when (s since the profile started), how long, and its top src/ frames.
  const starts: number[] = [];
  profile.timeDeltas.reduce((t, d, i) => (starts[i] = t + d), 0);
  for (const s of longest.slice(0, 12)) {
    const own = new Map<string, number>();
    for (let i = s.from; i <= s.to; i++) {
      for (const k of ownFrames(index, profile.samples[i]!, true)) add(own, k, profile.timeDeltas[i] ?? 0);
    }
    const top = [...own].sort((a, b) => b[1] - a[1]).slice(0, 8);
    console.log(
      `  at ${(starts[s.from]! / 1e6).toFixed(1)} s: ${(s.us / 1000).toFixed(0)} ms; ${top.map(([k, t]) => `${k.split('  ')[0]} ${(t / 1000).toFixed(0)}`).join(', ')}`,
    );
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const s of longest.filter((x) => x.us / 1000 >= minMs)) {
    for (let i = s.from; i <= s.to; i++) {
      const leaf = profile.samples[i]!;
      const t = profile.timeDeltas[i] ?? 0;
      total += t;
      add(self, keyOf(byId.get(leaf)!), t);
      for (const k of ownFrames(index, leaf)) add(inclusive, k, t);
    }
  }
  const print = (title: string, m: Map<string, number>) => {
    console.log(`${title} in slices of ${minMs} ms or more (${(total / 1000).toFixed(0)} ms)`);
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 20))
      console.log(
        `${((100 * t) / (total || 1)).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}`,
      );
  };
  print('self time', self);
  print('inclusive src/ time', inclusive);
}
