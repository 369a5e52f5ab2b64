import { spawn } from 'node:child_process';
import http from 'node:http';
const QUERY = JSON.stringify({ query: 'query Page { onlineSessions(first: 50) { edges { cursor node { id user { id name } gateway { id name } clientAddress virtualAddress connectedAt bytesReceived bytesSent } } pageInfo { hasNextPage endCursor } } }' });
async function run(mode, seconds = 5, concurrency = 32) {
  const child = spawn(process.execPath, ['--import', 'tsx', '.scratch-api/bench-server.ts', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port, token } = await new Promise((r) => child.stdout.once('data', (d) => r(JSON.parse(String(d)))));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let done = 0, bytes = 0; let stop = false;
  const one = () => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(QUERY) } }, (res) => {
      res.on('data', (c) => (bytes += c.length)); res.on('end', () => { if (res.statusCode !== 200) reject(new Error(String(res.statusCode))); else resolve(); });
    });
    req.on('error', reject); req.end(QUERY);
  });
  const worker = async () => { while (!stop) { await one(); done++; } };
  // warm-up
  for (let i = 0; i < 200; i++) await one();
  done = 0; bytes = 0;
  const t0 = performance.now();
  setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  const rps = done / ((performance.now() - t0) / 1000);
  child.kill();
  agent.destroy();
  return { mode, rps: Math.round(rps), bytesPerReq: Math.round(bytes / done) };
}
for (const mode of process.argv.slice(2)) console.log(await run(mode));
