/**
 * Benchmark 5, memory: resident set size of `switchboard start` (compiled JavaScript, SQLite) with
 * 100k online sessions: 2 s after they all arrived, at its peak during a burst of API reads, and 2 s
 * after that burst. Baseline in the same run: the same server with no session. Rounds interleave the
 * two; figures are medians. The goal is judged on the two settled readings; the peak under load is
 * reported beside them.
 */
import SqliteDatabase from 'better-sqlite3';
import { LoadGenerator } from './lib/load.js';
import { COMPILED_RUNTIME, type BenchOptions, type BenchResult } from './lib/result.js';
import { startSeededServer, type SeededServer } from './lib/seeded-server.js';
import { median, round } from './lib/stats.js';
import { SESSIONS_QUERY } from './throughput.js';

const MB = 2 ** 20;

export async function memory({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const sessions = smoke ? 600 : 100_000;
  const rounds = smoke ? 1 : 3;
  const settleMs = smoke ? 200 : 2000;
  const samples: Record<'empty' | 'loaded', { settled: number[]; peak: number[]; afterReads: number[] }> = {
    empty: { settled: [], peak: [], afterReads: [] },
    loaded: { settled: [], peak: [], afterReads: [] },
  };
  const load = await LoadGenerator.start();
  try {
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? (['empty', 'loaded'] as const) : (['loaded', 'empty'] as const)) {
        const server = await startSeededServer({ sessions: kind === 'empty' ? 0 : sessions });
        try {
          // The burst ends when the sessions are listed and their events are on the bus (the relay
          // publishes the outbox after the snapshot committed); settled is 2 s after that.
          await outboxDrained(server.dbPath);
          await new Promise((res) => setTimeout(res, settleMs));
          samples[kind].settled.push(await steadyRss(server));
          let peak = server.rss();
          const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 50);
          try {
            await load.run({
              url: server.url,
              connections: smoke ? 2 : 50,
              durationS: smoke ? 0.3 : 3,
              headers: { authorization: `Bearer ${server.token}` },
              bodies: [JSON.stringify({ query: SESSIONS_QUERY, variables: { first: 500 } })],
              expect: '"edges"',
            });
          } finally {
            clearInterval(sampler);
          }
          samples[kind].peak.push(Math.max(peak, server.rss()));
          await new Promise((res) => setTimeout(res, settleMs));
          samples[kind].afterReads.push(await steadyRss(server));
          log(
            `memory: round ${r + 1} ${kind}: ${(samples[kind].settled.at(-1)! / MB).toFixed(1)} MB settled, peak ${(samples[kind].peak.at(-1)! / MB).toFixed(1)} MB during reads, ${(samples[kind].afterReads.at(-1)! / MB).toFixed(1)} MB 2 s after reads`,
          );
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
    params: { sessions, rounds, runtime: COMPILED_RUNTIME },
    tables: {
      'RSS, MB (median over rounds)': [
        {
          label: '0 sessions (baseline)',
          settled: mb(samples.empty.settled),
          'peak during reads': mb(samples.empty.peak),
          '2 s after reads': mb(samples.empty.afterReads),
        },
        {
          label: `${sessions} sessions`,
          settled: mb(samples.loaded.settled),
          'peak during reads': mb(samples.loaded.peak),
          '2 s after reads': mb(samples.loaded.afterReads),
        },
        {
          label: 'ratio',
          settled: round(median(samples.loaded.settled) / median(samples.empty.settled), 2),
          'peak during reads': round(median(samples.loaded.peak) / median(samples.empty.peak), 2),
          '2 s after reads': round(median(samples.loaded.afterReads) / median(samples.empty.afterReads), 2),
        },
      ],
    },
    goals: [{ text: 'RSS with 100k online sessions ≤ 250 MB', figure: loadedMax, unit: 'MB', met: loadedMax <= 250 }],
    notes: [
      'The figure judged is the larger of the two settled loaded readings (2 s after the sessions arrived and their events were published, 2 s after the reads). Reads: 50 connections asking for pages of 500 sessions with every field, for 3 s; the peak RSS during them (sampled every 50 ms) is reported beside, not judged.',
      'Until the third pass (2026-11-29) the reading after reads was taken at once, not 2 s later. The server now runs one full collection when its event loop is idle and its heap grew 48 MiB since the last one (src/heap-release.ts); before, V8 returned that garbage 30–45 s later.',
    ],
  };
}

/** Resolves once every event in the server's outbox has been published. */
async function outboxDrained(dbPath: string): Promise<void> {
  const db = new SqliteDatabase(dbPath, { readonly: true });
  try {
    const unpublished = db.prepare('select count(*) from event_outbox where published_at is null').pluck();
    const end = Date.now() + 120_000;
    while ((unpublished.get() as number) > 0) {
      if (Date.now() > end) throw new Error('memory: the outbox was not published within 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    db.close();
  }
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
