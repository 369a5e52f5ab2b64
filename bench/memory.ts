/**
 * Benchmark 5, memory: resident set size of `switchboard start` (compiled JavaScript, SQLite) with
 * 100k online sessions, after they all arrived and after a burst of API reads. Baseline in the same
 * run: the same server with no session. Rounds interleave the two; figures are medians.
 */
import { LoadGenerator } from './lib/load.js';
import type { BenchOptions, BenchResult } from './lib/result.js';
import { buildServer, startSeededServer, type SeededServer } from './lib/seeded-server.js';
import { median, round } from './lib/stats.js';
import { SESSIONS_QUERY } from './throughput.js';

const MB = 2 ** 20;

export async function memory({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const sessions = smoke ? 600 : 100_000;
  const rounds = smoke ? 1 : 3;
  const built = smoke ? undefined : buildServer();
  const samples: Record<'empty' | 'loaded', { settled: number[]; afterReads: number[] }> = {
    empty: { settled: [], afterReads: [] },
    loaded: { settled: [], afterReads: [] },
  };
  const load = await LoadGenerator.start();
  try {
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? (['empty', 'loaded'] as const) : (['loaded', 'empty'] as const)) {
      const server = await startSeededServer({ sessions: kind === 'empty' ? 0 : sessions, built });
      try {
        await new Promise((res) => setTimeout(res, smoke ? 200 : 2000));
        samples[kind].settled.push(await steadyRss(server));
        await load.run({
          url: server.url, connections: smoke ? 2 : 50, durationS: smoke ? 0.3 : 3, headers: { authorization: `Bearer ${server.token}` },
          bodies: [JSON.stringify({ query: SESSIONS_QUERY, variables: { first: 500 } })], expect: '"edges"',
        });
        samples[kind].afterReads.push(await steadyRss(server));
        log(`memory: round ${r + 1} ${kind}: ${(samples[kind].settled.at(-1)! / MB).toFixed(1)} MB settled, ${(samples[kind].afterReads.at(-1)! / MB).toFixed(1)} MB after reads`);
      } finally {
        await server.close();
      }
    }
  }
  } finally {
    await load.close();
  }
  const mb = (xs: number[]) => round(median(xs) / MB, 1);
  const loadedMax = Math.max(mb(samples.loaded.settled), mb(samples.loaded.afterReads));
  return {
    name: 'memory',
    title: 'Memory: RSS of the server with 100k online sessions',
    params: { sessions, rounds, runtime: built ? 'compiled JavaScript (tsc), node' : 'tsx (smoke)' },
    tables: {
      'RSS, MB (median over rounds)': [
        { label: '0 sessions (baseline)', settled: mb(samples.empty.settled), 'after 500-row reads': mb(samples.empty.afterReads) },
        { label: `${sessions} sessions`, settled: mb(samples.loaded.settled), 'after 500-row reads': mb(samples.loaded.afterReads) },
        { label: 'ratio', settled: round(median(samples.loaded.settled) / median(samples.empty.settled), 2), 'after 500-row reads': round(median(samples.loaded.afterReads) / median(samples.empty.afterReads), 2) },
      ],
    },
    goals: [{ text: 'RSS with 100k online sessions ≤ 250 MB', figure: loadedMax, unit: 'MB', met: loadedMax <= 250 }],
    notes: ['The figure judged is the larger of the two loaded readings. Reads: 50 connections asking for pages of 500 sessions with every field, for 3 s.'],
  };
}

/** Three readings 100 ms apart; the median. */
async function steadyRss(server: SeededServer): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    xs.push(server.rss());
    await new Promise((r) => setTimeout(r, 100));
  }
  return median(xs);
}
