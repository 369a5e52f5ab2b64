/** What bench/profile-top.ts and bench/profile-slices.ts read of V8 `.cpuprofile`s (from `node --cpu-prof`). */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The profiles named: a directory stands for the `.cpuprofile`s in it, say a BENCH_CPU_PROF dir. */
export function profileFiles(args: string[]): string[] {
  return args.flatMap((a) =>
    statSync(a).isDirectory()
      ? readdirSync(a)
          .filter((f) => f.endsWith('.cpuprofile'))
          .sort()
          .map((f) => join(a, f))
      : [a],
  );
}

export const short = (url: string) =>
  url.replace(/^file:\/\/.*?\/(node_modules|src|bench|test)\//, '$1/') || '(native)';
/** A function by its name and place. */
export const keyOf = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
export const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
