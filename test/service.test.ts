/**
 * Switchboard as a supervisor runs it, with real processes: the README's `npm start` is one compiled
 * Node process (no tsx, no wrapper shell); SIGTERM sent to the very PID the supervisor holds (npm's)
 * drains the server — a disconnect in flight against a real, stalled OpenVPN daemon still gets its
 * HTTP answer — and the process exits 0 with the port released; WebSocket and SSE subscribers are
 * told the server is going away (close code 1001 / a SHUTTING_DOWN error) instead of being cut.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { apiClient, gql, onlineSessions, waitLinked } from './support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { reapOnExit } from '../src/lab/child-reaper.js';
import { waitFor } from './support/wait.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';
import { SwitchboardProcess } from './support/switchboard-process.js';
import { ensureBuild } from '../scripts/ensure-build.mjs';

const skip = openvpnSkipReason();
const ROOT = join(import.meta.dirname, '..');
const GW = 'ovpn-drain';
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const EVENTS = 'subscription { sessionEvents { type } }';

let lab: OpenVpnLab;
let server: LabServer;
let env: Record<string, string>;

/** The PIDs whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** Bytes waiting, unread, on the daemon's unix sockets (its management connection): it is stopped. */
function unreadByDaemon(pid: number): number {
  const lines = execFileSync('ss', ['-xnpH'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(`pid=${pid},`));
  return lines.reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[2] ?? 0), 0);
}

function portRefused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname);
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

describe('runs as a service', { skip, timeout: 180_000 }, () => {
  before(() => {
    // Outside the timed waits below: the first start after a change compiles dist/.
    assert.ok(ensureBuild({ ui: true }), 'dist/ builds');
  });
  before(async () => {
    lab = await OpenVpnLab.create();
    // authorize: the adapter learns of sessions from notifications and polls nothing, so the only bytes
    // written to the stalled daemon below are the disconnect's.
    server = await lab.startServer({ proto: 'tcp4', mode: 'authorize', managementPassword: 'drain-mgmt-pw' });
    const configFile = join(lab.dir, 'gateways.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        gateways: [
          {
            id: GW,
            name: 'Drain lab',
            region: 'lab',
            protocol: 'openvpn',
            mode: 'authorize',
            management: server.management,
            managementPasswordFile: server.managementPasswordFile,
            snapshotIntervalSeconds: 300,
          },
        ],
      }),
    );
    env = {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_CONFIG: configFile,
      SWITCHBOARD_LOG_LEVEL: 'info',
      SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '2000',
      SWITCHBOARD_SHUTDOWN_DRAIN_MS: '20000',
      // No liveness probe during the drain test: its `pid` writes to the stalled daemon would count as
      // the client-kill this test waits for (and the probe would soon refuse the kill altogether).
      SWITCHBOARD_DAEMON_PROBE_INTERVAL_MS: '600000',
    };
  });
  after(async () => {
    if (server?.pid) process.kill(server.pid, 'SIGCONT');
    await lab?.close();
  });

  test('npm start: one compiled process; SIGTERM to npm drains a disconnect in flight, exits 0, frees the port', async () => {
    const dbPath = join(lab.dir, 'npm-start.db');
    const childEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      SWITCHBOARD_DATABASE_URL: dbPath,
    };
    const npm: ChildProcess = spawn('npm', ['start'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    reapOnExit(npm);
    let out = '';
    npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));

    const url = (
      await waitFor(() => /listening on (http:\/\/\S+)\/graphql/.exec(out), 60_000, 'npm start listening')
    )[1]!;
    const token = (await waitFor(() => /^\s{4}(sbt_[a-z0-9_]+)$/m.exec(out), 10_000, 'bootstrap token'))[1]!;
    // npm's only child is the server itself: node running the compiled CLI, with no process of its own.
    const children = childrenOf(npm.pid!);
    assert.equal(children.length, 1, `npm has one child: ${children.join(',')}`);
    const cmdline = readFileSync(`/proc/${children[0]}/cmdline`, 'utf8').split('\0').join(' ');
    assert.match(cmdline, /node .*bin\/switchboard\.js start/);
    assert.doesNotMatch(cmdline, /tsx/);
    assert.deepEqual(childrenOf(children[0]!), [], 'the server runs in one process');

    const api = apiClient(url, token);
    await waitLinked(api, GW); // listening is not linked: a CONNECT sent before would go unanswered
    await server.startClient({ user: 'alice' }); // authorize mode: the running Switchboard lets it in
    const sessions = await waitFor(
      async () => {
        const listed = await onlineSessions(api, GW);
        return listed.length === 1 ? listed : null;
      },
      30_000,
      'alice listed',
    );

    // The daemon stalls; the disconnect's client-kill waits, unread, on its management socket.
    process.kill(server.pid!, 'SIGSTOP');
    const before = unreadByDaemon(server.pid!);
    const inFlight = gql(url, token, SEED, { onlineSessionId: sessions[0]!.id });
    await waitFor(() => unreadByDaemon(server.pid!) > before, 10_000, 'client-kill written to the stalled daemon');
    process.kill(npm.pid!, 'SIGTERM');

    const reply = await inFlight.catch((e: unknown) =>
      assert.fail(`the request in flight was cut (${String(e)}):\n${out}`),
    ); // an answer, not a cut connection
    assert.equal(reply.status, 503);
    assert.equal(reply.json.errors?.[0]?.extensions?.code, 'GATEWAY_UNAVAILABLE');
    assert.equal(await exited, 0, out);
    assert.match(out, /SIGTERM: shutting down/);
    assert.ok(await portRefused(url), 'the port is released');
    assert.deepEqual(childrenOf(npm.pid!), []);
    process.kill(server.pid!, 'SIGCONT');
  });

  test('SIGTERM tells WebSocket and SSE subscribers the server is going away, then exits 0', async () => {
    const p = SwitchboardProcess.start('switchboard (streams)', ['start'], {
      ...env,
      SWITCHBOARD_DATABASE_URL: join(lab.dir, 'streams.db'),
    });
    try {
      const url = (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 60_000))[1]!;
      const token = (await p.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
      const ws = await wsSubscribe(url, EVENTS, {}, { token });
      const sse = await sseSubscribe(url, EVENTS, {}, token);
      await waitFor(() => sse.status, 10_000, 'SSE stream open');
      p.kill('SIGTERM');
      await p.waitExited();
      assert.equal(p.exitCode, 0, p.tail());
      await waitFor(() => ws.closeCode, 5_000, 'WebSocket closed');
      assert.equal(ws.closeCode, 1001);
      await waitFor(() => sse.completed || sse.errors.length > 0, 5_000, 'SSE stream ended');
      assert.match(JSON.stringify([sse.events, sse.errors]), /SHUTTING_DOWN/);
      await ws.close();
      await sse.close();
    } finally {
      await p.stop();
    }
  });
});
