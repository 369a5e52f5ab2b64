/**
 * `switchboard demo` as a newcomer runs it: a real OpenVPN server and clients (or, with `--protocol
 * wireguard`, a real wireguard-go server and clients in network namespaces), Switchboard on them, a
 * token and curl commands that work as printed, and nothing left behind after Ctrl-C, a closed
 * terminal or a kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openvpnSkipReason } from './support/openvpn-lab.js';
import { wireguardSkipReason } from '../src/lab/wireguard-lab.js';
import { waitFor } from './support/wait.js';

/** `switchboard demo` as a user starts it: its process, its exit code, and all it printed so far. */
function startDemo(args: string[] = []) {
  const child = spawn(process.execPath, ['bin/switchboard.js', 'demo', ...args], {
    env: { ...process.env, SWITCHBOARD_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/** Waits until the demo printed its instructions; resolves with its output then. */
async function upAndRunning(child: ChildProcess, output: () => string, ms = 60_000): Promise<string> {
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`demo exited before it came up:\n${output()}`);
      return output().includes('Press Ctrl-C');
    },
    ms,
    () => `the demo to come up:\n${output()}`,
    100,
  );
  return output();
}

/** The API as the demo printed it: a call with its URL and admin token, and alice's session id. */
function printedApi(out: string) {
  const url = /API:\s+(http:\/\/\S+\/graphql)/.exec(out)![1]!;
  const token = /Admin token:\s+(sbt_\S+)/.exec(out)![1]!;
  const sessionId = /End alice's session \((sess_[a-z0-9]{12})\)/.exec(out)![1]!;
  const call = (query: string, variables?: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  return { call, sessionId };
}
type Call = ReturnType<typeof printedApi>['call'];

async function onlineCount(call: Call): Promise<number> {
  const list = (await (
    await call('{ onlineSessions(first: 10) { totalCount edges { node { user { name } } } } }')
  ).json()) as { data: { onlineSessions: { totalCount: number } } };
  return list.data.onlineSessions.totalCount;
}

/** The printed disconnect, twice: `true`, then SESSION_NOT_FOUND (HTTP 400) as the demo says. */
async function disconnectAsPrinted(call: Call, sessionId: string): Promise<void> {
  const seed =
    'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
  const first = await call(seed, { onlineSessionId: sessionId });
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { data: { disconnectBySessionId: true } });
  assert.equal(
    (await call(seed, { onlineSessionId: sessionId })).status,
    400,
    'the second answer is SESSION_NOT_FOUND, as printed',
  );
}

test(
  'demo: prints a working token and commands, ends a real session, tears down on SIGINT',
  { skip: openvpnSkipReason() },
  async () => {
    const { child, exited, output } = startDemo();
    try {
      const out = await upAndRunning(child, output);
      const { call, sessionId } = printedApi(out);
      const logDir = /Client logs are in (\S+)\./.exec(out)![1]!;
      // The console's address is printed, and it answers the console (dist/ui is built by the first start).
      const consoleUrl = /Operator console: (http:\/\/\S+\/) /.exec(out)?.[1];
      assert.ok(consoleUrl, `the demo prints the console's address:\n${out}`);
      const page = await fetch(consoleUrl);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(await onlineCount(call), 4);
      await disconnectAsPrinted(call, sessionId);
      assert.ok(existsSync(logDir));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.ok(output().includes('everything the demo started is gone'));
      assert.ok(!existsSync(logDir), 'temp dir removed');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  },
);

/** PIDs of processes whose command line names `dir` (the lab's OpenVPN server and clients do). */
function processesUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) ? [Number(p)] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}

for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
  test(
    `demo: ${signal} to its process (a closed terminal, a kill) leaves nothing behind: server, clients, tun device, PKI with ca.key`,
    { skip: openvpnSkipReason() },
    async () => {
      const { child, exited, output } = startDemo();
      try {
        const out = await upAndRunning(child, output);
        const serverDir = /Client logs are in (\S+)\./.exec(out)![1]!;
        const labDir = dirname(serverDir);
        const device = `sb${basename(serverDir).slice(1)}`;
        assert.ok(
          existsSync(join(labDir, 'ca.key')) ||
            readdirSync(labDir, { recursive: true }).some((f) => String(f).endsWith('ca.key')),
          'the PKI with its ca.key is there while it runs',
        );
        assert.ok(existsSync(`/sys/class/net/${device}`), `the server's tun device ${device} exists while it runs`);
        assert.ok(processesUnder(labDir).length >= 2, 'the OpenVPN server and clients run');
        child.kill(signal);
        assert.equal(await exited, 0, out);
        assert.ok(!existsSync(labDir), 'the temporary directory (PKI, ca.key, logs) is removed');
        assert.ok(!existsSync(`/sys/class/net/${device}`), 'the tun device is gone');
        assert.deepEqual(processesUnder(labDir), [], 'no OpenVPN process is left');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
}

/** Whether `pid` runs (a zombie left to a PID 1 that does not reap is not running). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** What a WireGuard demo made on this host, read from what it printed and from the host while it runs. */
function wireguardFootprint(out: string) {
  const iface = /wg show (wgs[0-9a-f]+)/.exec(out)![1]!;
  const tag = iface.slice('wgs'.length);
  const dir = /the store are in (\S+)\. Press/.exec(out)![1]!;
  const namespaces = () =>
    execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.split(' ')[0]!)
      .filter((ns) => ns.startsWith(`sbwg-${tag}-`));
  const sockets = () => readdirSync('/var/run/wireguard').filter((f) => f.includes(tag));
  const pids = namespaces().flatMap((ns) =>
    execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number),
  );
  const peers = () => execFileSync('wg', ['show', iface, 'allowed-ips'], { encoding: 'utf8' });
  return { dir, namespaces, sockets, pids, peers };
}

/** While it runs: a server and four clients, each in its namespace with its wireguard-go and UAPI socket. */
function assertRunning(f: ReturnType<typeof wireguardFootprint>): void {
  assert.equal(f.namespaces().length, 5, 'a namespace for the server and one per client');
  assert.equal(f.sockets().length, 5, 'a UAPI socket per wireguard-go');
  assert.ok(f.pids.length >= 9, `wireguard-go, the echo server and the pings run: ${f.pids.join(' ')}`);
  assert.ok(existsSync(f.dir) && readdirSync(f.dir).some((n) => n.endsWith('.key')), 'the keys are there');
}

/** After the teardown: no namespace, no socket, no process, no keys or state left. */
function assertGone(f: ReturnType<typeof wireguardFootprint>): void {
  assert.deepEqual(f.namespaces(), [], 'the namespaces are removed');
  assert.deepEqual(f.sockets(), [], 'the UAPI sockets are removed');
  assert.deepEqual(f.pids.filter(running), [], 'no wireguard-go, echo server or ping is left');
  assert.ok(!existsSync(f.dir), 'the temporary directory (keys, state file, store) is removed');
}

const WIREGUARD_UP_MS = 240_000; // five wireguard-go processes, handshakes and TCP checks on a loaded machine

test(
  'demo --protocol wireguard: sessions listed, one ended through the API (its peer leaves the interface), SIGINT removes everything',
  { skip: wireguardSkipReason() },
  async () => {
    const { child, exited, output } = startDemo(['--protocol', 'wireguard']);
    try {
      const out = await upAndRunning(child, output, WIREGUARD_UP_MS);
      const footprint = wireguardFootprint(out);
      assertRunning(footprint);
      const consoleUrl = /Operator console: (http:\/\/\S+\/) /.exec(out)?.[1];
      assert.ok(consoleUrl, `the demo prints the console's address:\n${out}`);
      assert.equal((await fetch(consoleUrl)).status, 200);
      const { call, sessionId } = printedApi(out);
      assert.equal(await onlineCount(call), 4);
      assert.equal(footprint.peers().trim().split('\n').length, 4);
      assert.match(footprint.peers(), /\t10\.77\.0\.2\/32\n/, "alice's peer is on the interface");
      await disconnectAsPrinted(call, sessionId);
      assert.doesNotMatch(footprint.peers(), /10\.77\.0\.2\/32/, "alice's peer is gone from the interface");
      assert.equal(footprint.peers().trim().split('\n').length, 3, 'the others are still there');
      assert.equal(await onlineCount(call), 3);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.ok(output().includes('everything the demo started is gone'));
      assertGone(footprint);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  },
);

for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
  test(
    `demo --protocol wireguard: ${signal} removes the namespaces, processes, sockets, keys and state`,
    { skip: wireguardSkipReason() },
    async () => {
      const { child, exited, output } = startDemo(['--protocol', 'wireguard']);
      try {
        const footprint = wireguardFootprint(await upAndRunning(child, output, WIREGUARD_UP_MS));
        assertRunning(footprint);
        child.kill(signal);
        assert.equal(await exited, 0, output());
        assertGone(footprint);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
}
