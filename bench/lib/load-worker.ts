/**
 * The load generator, run as its own process so it does not share a CPU with the server it measures.
 * Receives LoadSpecs over IPC, runs each with autocannon, answers with a LoadResult.
 */
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load.js';

function run(spec: LoadSpec): Promise<LoadResult> {
  let next = 0;
  let errorBodies = 0;
  let firstError: string | null = null;
  let firstSent = 0;
  let lastDone = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationS ?? 5 }),
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(spec.headers ?? {}) },
        requests: [
          {
            method: 'POST',
            setupRequest: (req: autocannon.Request) => {
              // Distinct bodies in order, shared by every connection (one id is never sent twice).
              if (next === 0) firstSent = performance.now();
              const body = spec.bodies[next % spec.bodies.length]!;
              next++;
              return { ...req, body };
            },
            onResponse: (status: number, body: string) => {
              lastDone = performance.now();
              // GraphQL answers errors with 200 too: a reply without the expected data counts as bad.
              if (status !== 200 || !body.includes(spec.expect) || body.includes('"errors"')) {
                errorBodies++;
                firstError ??= `${status} ${body.slice(0, 300)}`;
              }
            },
          },
        ],
      },
      (err: Error | null, result: autocannon.Result) => {
        if (err) return reject(err);
        // autocannon's own duration ends on its next one-second tick; time the requests themselves.
        const seconds =
          lastDone > firstSent
            ? (lastDone - firstSent) / 1000
            : (result.finish.getTime() - result.start.getTime()) / 1000;
        resolve({
          requests: result.requests.total,
          durationS: seconds,
          rps: result.requests.total / seconds,
          latency: {
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            mean: result.latency.mean,
            max: result.latency.max,
          },
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          errorBodies,
          firstError,
        });
      },
    );
  });
}

process.on('message', (spec: LoadSpec) => {
  run(spec).then(
    (result) => process.send!({ ok: true, result }),
    (e: unknown) => process.send!({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.send!({ ready: true });
