/**
 * The load generator, run as its own process so it does not share a CPU queue with the server it
 * measures. Reads a LoadSpec (JSON file, argv[2]), runs autocannon, prints one JSON LoadResult line.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load.js';

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
let next = 0;
let errorBodies = 0;
let firstError: string | null = null;

const instance = autocannon({
  url: spec.url,
  connections: spec.connections,
  ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationS ?? 5 }),
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(spec.headers ?? {}) },
  requests: [{
    method: 'POST',
    setupRequest: (req: Record<string, unknown>) => {
      // Distinct bodies in order, shared by every connection (one id is never sent twice).
      const body = spec.bodies[next % spec.bodies.length]!;
      next++;
      return { ...req, body };
    },
    onResponse: (status: number, body: string) => {
      // GraphQL answers errors with 200 too: a reply without data counts as an error.
      if (status !== 200 || !body.includes(spec.expect) || body.includes('"errors"')) {
        errorBodies++;
        firstError ??= `${status} ${body.slice(0, 300)}`;
      }
    },
  }],
}, (err: Error | null, result: autocannon.Result) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  const out: LoadResult = {
    requests: result.requests.total,
    durationS: result.duration,
    rps: result.requests.total / result.duration,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, mean: result.latency.mean, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    errorBodies,
    firstError,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
void instance;
