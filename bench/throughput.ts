/**
 * Benchmark 2, API throughput: `onlineSessions(first: 50)` with every Session field, and
 * `disconnectBySessionId` on distinct ids, against 100k online sessions, 50 connections. Switchboard
 * (`switchboard start`, SQLite, its gateway a management stand-in holding the 100k clients) against
 * two baselines in another process: a raw node:http handler serving from memory and fastify +
 * mercurius (jit) over the same store. Rounds interleave the three servers; each figure is the median
 * over rounds of the per-round ratio.
 */
import { fileURLToPath } from 'node:url';
import { BaselineProcess } from './lib/baseline-process.js';
import { LoadGenerator, type LoadResult } from './lib/load.js';
import { COMPILED_RUNTIME, type BenchOptions, type BenchResult, type FigureRow } from './lib/result.js';
import { startSeededServer } from './lib/seeded-server.js';
import { median, round } from './lib/stats.js';

const BASELINES = fileURLToPath(new URL('./lib/baseline-servers.ts', import.meta.url));

export const SESSIONS_QUERY = `query ($first: Int) { onlineSessions(first: $first) { edges { cursor node {
  id user { id name } gateway { id name region protocol mode agentConnected lastSeenAt } protocol clientAddress virtualAddress
  virtualAddress6 connectedAt bytesReceived bytesSent lastSeenAt confirmed client { version platform } endedAt endCause
  endedBy { tokenId name ip userAgent } endReason } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';

type Contender = 'switchboard' | 'raw' | 'mercurius';

/** Sessions connecting per second during the churn rounds of onlineSessions. */
const CHURN_PER_SECOND = 100;

export async function throughput({ smoke, log }: BenchOptions): Promise<BenchResult> {
  const sessions = smoke ? 600 : 100_000;
  // Five rounds: on these shared machines one 5 s window of a contender moves by ±30%.
  const rounds = smoke ? 1 : 5;
  const connections = smoke ? 5 : 50;
  const durationS = smoke ? 0.5 : 5;
  const disconnectsPerRun = smoke ? 50 : 4_000;

  log(`throughput: starting switchboard with ${sessions} sessions`);
  const server = await startSeededServer({ sessions });
  const baselines = BaselineProcess.start('baseline servers', BASELINES, [
    server.dbPath,
    server.standin.path,
    server.token,
  ]);
  const load = await LoadGenerator.start();
  const runLoad = load.run.bind(load);
  try {
    const urls = await baselines.urls;
    const url: Record<Contender, string> = { switchboard: server.url, raw: urls.raw, mercurius: urls.mercurius };
    const headers = { authorization: `Bearer ${server.token}` };
    const contenders: Contender[] = ['switchboard', 'raw', 'mercurius'];

    // Every contender's reply is the same page: check once before measuring.
    const body = JSON.stringify({ query: SESSIONS_QUERY, variables: { first: 50 } });
    const pages = await Promise.all(
      contenders.map(async (c) =>
        (
          await fetch(url[c], { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })
        ).json(),
      ),
    );
    const ids = pages.map((p) =>
      JSON.stringify(
        (p as { data: { onlineSessions: { edges: { node: { id: string } }[] } } }).data.onlineSessions.edges.map(
          (e) => e.node.id,
        ),
      ),
    );
    if (new Set(ids).size !== 1)
      throw new Error(`the contenders disagree on the first page: ${JSON.stringify(pages).slice(0, 500)}`);

    // Distinct session ids for the disconnects, newest last so the listed first page stays put.
    const ids100k = await allSessionIds(server.gql, sessions);
    const needed = rounds * contenders.length * disconnectsPerRun;
    if (ids100k.length < needed)
      throw new Error(`need ${needed} sessions for the disconnect runs, have ${ids100k.length}`);

    /** `rounds` rounds, the contenders in a rotating order, each run logged. */
    const interleaved = async (
      what: string,
      run: (c: Contender) => Promise<LoadResult>,
    ): Promise<Record<Contender, LoadResult[]>> => {
      const runs: Record<Contender, LoadResult[]> = { switchboard: [], raw: [], mercurius: [] };
      for (let r = 0; r < rounds; r++) {
        for (const c of rotate(contenders, r)) {
          const res = await run(c);
          runs[c].push(res);
          log(
            `throughput: round ${r + 1} ${what} ${c}: ${res.rps.toFixed(0)} req/s, p99 ${res.latency.p99} ms, errors ${res.errorBodies + res.errors}`,
          );
        }
      }
      return runs;
    };
    const readPage = (c: Contender) =>
      runLoad({ url: url[c], connections, durationS, headers, bodies: [body], expect: '"edges"' });

    // Warm-up (jit compiles after the first query; caches fill).
    if (!smoke)
      for (const c of contenders)
        await runLoad({ url: url[c], connections, durationS: 1, headers, bodies: [body], expect: '"edges"' });
    const list = await interleaved('onlineSessions', readPage);
    // The same reads while sessions keep connecting (each one a write that moves Switchboard's read
    // version, so its kept answers and cached pages are made again): what a busy gateway costs the read path.
    const connectsPerSecond = smoke ? 20 : CHURN_PER_SECOND;
    const churn = await interleaved(`onlineSessions with ${connectsPerSecond} connects/s`, async (c) => {
      const timer = setInterval(() => server.standin.addClients(1, true), 1000 / connectsPerSecond);
      try {
        return await readPage(c);
      } finally {
        clearInterval(timer);
      }
    });
    let taken = 0;
    const kill = await interleaved('disconnect', (c) => {
      const slice = ids100k.slice(taken, taken + disconnectsPerRun);
      taken += disconnectsPerRun;
      const bodies = slice.map((id) => JSON.stringify({ query: DISCONNECT, variables: { id } }));
      return runLoad({
        url: url[c],
        connections,
        amount: bodies.length,
        headers,
        bodies,
        expect: '"disconnectBySessionId":true',
      });
    });

    const table = (runs: Record<Contender, LoadResult[]>): FigureRow[] =>
      contenders.map((c) => ({
        label: c,
        'req/s (median)': round(median(runs[c].map((x) => x.rps)), 0),
        'p50 ms': median(runs[c].map((x) => x.latency.p50)),
        'p99 ms': median(runs[c].map((x) => x.latency.p99)),
        'vs raw': c === 'raw' ? 1 : round(median(runs[c].map((x, i) => x.rps / runs.raw[i]!.rps)), 2),
        'vs mercurius': c === 'mercurius' ? 1 : round(median(runs[c].map((x, i) => x.rps / runs.mercurius[i]!.rps)), 2),
        'bad replies': runs[c].reduce((a, x) => a + x.errorBodies + x.errors + x.non2xx, 0),
      }));
    const listTable = table(list);
    const churnTable = table(churn);
    const killTable = table(kill);
    const sb = (t: FigureRow[], col: string) => t.find((row) => row.label === 'switchboard')![col] as number;
    const errors = [...listTable, ...churnTable, ...killTable].reduce(
      (a, row) => a + (row['bad replies'] as number),
      0,
    );
    const firstError = [...Object.values(list), ...Object.values(churn), ...Object.values(kill)]
      .flat()
      .find((x) => x.firstError)?.firstError;
    return {
      name: 'throughput',
      title: 'API throughput (100k online sessions, 50 connections)',
      params: {
        sessions,
        rounds,
        connections,
        durationS,
        disconnectsPerRun,
        connectsPerSecond,
        loadGenerator: 'autocannon 8 in a child process',
        runtime: COMPILED_RUNTIME,
      },
      tables: {
        'onlineSessions(first: 50), all Session fields': listTable,
        [`onlineSessions(first: 50) while ${connectsPerSecond} sessions connect per second`]: churnTable,
        'disconnectBySessionId, distinct ids (no goal: these baselines write nothing; see the same-work benchmark)':
          killTable,
      },
      goals: [
        {
          text: 'onlineSessions ≥ 1.0× raw node:http',
          figure: sb(listTable, 'vs raw'),
          unit: '×',
          met: sb(listTable, 'vs raw') >= 1,
        },
        {
          text: `onlineSessions ≥ 1.0× raw node:http while ${connectsPerSecond} sessions connect per second`,
          figure: sb(churnTable, 'vs raw'),
          unit: '×',
          met: sb(churnTable, 'vs raw') >= 1,
        },
        {
          text: 'onlineSessions ≥ 1.0× mercurius-jit',
          figure: sb(listTable, 'vs mercurius'),
          unit: '×',
          met: sb(listTable, 'vs mercurius') >= 1,
        },
      ],
      notes: [
        'Switchboard runs as `switchboard start` (SQLite) in its own process; the two baselines share a second process; autocannon runs in a third.',
        'raw serves the page from an in-memory sorted array and disconnects with a Map lookup plus the client-kill round trip; mercurius reads the same SQLite file through the same store code and disconnects with a store lookup plus the client-kill round trip, without writing an audit row.',
        'The 100k sessions reach Switchboard the real way: its OpenVPN adapter reads `status 3` from the management stand-in.',
        "Switchboard answers a repeated read with the bytes of an identical earlier one while its read version (every write to the sessions or gateways moves it) and the gateways' liveness bounds allow; each request is still authenticated and rate limited first (docs/architecture.md, kept answers).",
        `The churn table: the stand-in announces ${connectsPerSecond} new clients per second (\`>CLIENT:ESTABLISHED\`) during every contender's run. Switchboard stores each one, which moves its read version, and its first page changes; raw keeps serving the page it loaded at start (its in-memory copy is not updated), and mercurius reads the database.`,
        ...(errors > 0 ? [`${errors} bad replies; first: ${firstError}`] : []),
      ],
    };
  } finally {
    await load.close();
    await baselines.stop();
    await server.close();
  }
}

/** The order of contenders changes every round, so none always runs right after the same other one. */
export function rotate<T>(list: T[], r: number): T[] {
  const k = r % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Every online session id, oldest first (pages of 500 through the API). */
async function allSessionIds(
  gql: (q: string, v?: Record<string, unknown>) => Promise<{ data?: Record<string, unknown> }>,
  n: number,
): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  while (ids.length < n) {
    const r = await gql(
      'query ($after: String) { onlineSessions(first: 500, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }',
      { after },
    );
    const c = r.data!.onlineSessions as {
      edges: { node: { id: string } }[];
      pageInfo: { hasNextPage: boolean; endCursor: string };
    };
    ids.push(...c.edges.map((e) => e.node.id));
    if (!c.pageInfo.hasNextPage) break;
    after = c.pageInfo.endCursor;
  }
  return ids.reverse();
}
