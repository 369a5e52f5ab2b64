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

/** A profile's nodes by id, and each node's parent: to walk a sample's stack from its leaf. */
export interface ProfileIndex {
  byId: Map<number, ProfileNode>;
  parent: Map<number, number>;
}

export function indexProfile(profile: Profile): ProfileIndex {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { byId, parent };
}

/**
 * Our own functions (src/, or dist/ for the compiled server) on the stack of the sample whose leaf is
 * `leaf`, each once (a sample counts once for each of them); `gc` adds the garbage collector's frame.
 */
export function ownFrames({ byId, parent }: ProfileIndex, leaf: number, gc = false): Set<string> {
  const seen = new Set<string>();
  for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id)!;
    if (/\/(src|dist)\//.test(n.callFrame.url) || (gc && n.callFrame.functionName === '(garbage collector)'))
      seen.add(keyOf(n));
  }
  return seen;
}
