/**
 * An API probe in its own process: asks `body` of `url` one request after another (keep-alive) from
 * `start` until `stop`, and answers with every request's start (epoch ms) and latency (ms), and how
 * many replies were not the expected answer. IPC messages: `{ start: ProbeSpec }`, then `'stop'`.
 */
import { request, Agent } from 'node:http';

export interface ProbeSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** A substring every good reply contains. */
  expect: string;
}
export interface ProbeResult {
  samples: { at: number; ms: number }[];
  bad: number;
}

let stopped = false;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function ask(spec: ProbeSpec): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      spec.url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', ...spec.headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve(res.statusCode === 200 && text.includes(spec.expect) && !text.includes('"errors"')),
        );
      },
    );
    req.on('error', () => resolve(false));
    req.end(spec.body);
  });
}

process.on('message', (m: { start: ProbeSpec } | 'stop') => {
  if (m === 'stop') {
    stopped = true;
    return;
  }
  stopped = false;
  void (async () => {
    const result: ProbeResult = { samples: [], bad: 0 };
    while (!stopped) {
      const at = performance.timeOrigin + performance.now();
      const t0 = performance.now();
      if (!(await ask(m.start))) result.bad++;
      result.samples.push({ at, ms: performance.now() - t0 });
    }
    process.send!(result);
  })();
});
process.send!('ready');
