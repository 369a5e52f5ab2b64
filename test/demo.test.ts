/**
 * `switchboard demo` as a newcomer runs it: a real OpenVPN server and clients, Switchboard on them,
 * a token and curl commands that work as printed, and nothing left behind after Ctrl-C.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openvpnSkipReason } from './support/openvpn-lab.js';
import { waitFor } from './support/wait.js';

/** `switchboard demo` as a user starts it: its process, its exit code, and all it printed so far. */
function startDemo() {
  const child = spawn(process.execPath, ['bin/switchboard.js', 'demo'], {
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
async function upAndRunning(child: ChildProcess, output: () => string): Promise<string> {
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`demo exited before it came up:\n${output()}`);
      return output().includes('Press Ctrl-C');
    },
    60_000,
    () => `the demo to come up:\n${output()}`,
    100,
  );
  return output();
}

test(
  'demo: prints a working token and commands, ends a real session, tears down on SIGINT',
  { skip: openvpnSkipReason() },
  async () => {
    const { child, exited, output } = startDemo();
    try {
      const out = await upAndRunning(child, output);
      const url = /API:\s+(http:\/\/\S+\/graphql)/.exec(out)![1]!;
      const token = /Admin token:\s+(sbt_\S+)/.exec(out)![1]!;
      const sessionId = /End alice's session \((sess_[a-z0-9]{12})\)/.exec(out)![1]!;
      const logDir = /Client logs are in (\S+)\./.exec(out)![1]!;
      // The console's address is printed, and it answers the console (dist/ui is built by the first start).
      const consoleUrl = /Operator console: (http:\/\/\S+\/) /.exec(out)?.[1];
      assert.ok(consoleUrl, `the demo prints the console's address:\n${out}`);
      const page = await fetch(consoleUrl);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const call = (query: string, variables?: unknown) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables }),
        });
      const list = (await (
        await call('{ onlineSessions(first: 10) { totalCount edges { node { user { name } } } } }')
      ).json()) as { data: { onlineSessions: { totalCount: number } } };
      assert.equal(list.data.onlineSessions.totalCount, 4);
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
