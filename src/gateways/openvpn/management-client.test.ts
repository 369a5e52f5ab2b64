/**
 * The management client against a scripted stand-in for the daemon's socket, for what a real daemon
 * cannot be made to do on cue: notifications in the middle of a reply, replies split at odd bytes, a
 * reply that comes after the deadline. The real daemon is exercised in openvpn-adapter.test.ts.
 */
import { after, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayUnavailableError } from '../adapter.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { ManagementClient, parseManagementAddress, type ManagementHandlers } from './management-client.js';
import type { Notification } from './notification-parser.js';

const BANNER = ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\n";
const dir = mkdtempSync(join(tmpdir(), 'sb-mc-'));
let n = 0;

/** A unix-socket server; `script` gets each connection and each line the client sends. */
async function fakeDaemon(script: {
  onConnect?(s: Socket): void;
  onLine(line: string, s: Socket): void;
}): Promise<{ address: string; server: Server; sockets: Socket[] }> {
  const path = join(dir, `d${++n}.sock`);
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        script.onLine(line, s);
      }
    });
    s.on('error', () => {});
    if (script.onConnect) script.onConnect(s);
    else s.write(BANNER);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { address: `unix:${path}`, server, sockets };
}

function recorder() {
  const logs: string[] = [];
  const logger: Logger = {
    ...silentLogger,
    debug: (o, m) => logs.push(`${m} ${JSON.stringify(o)}`),
    info: (o, m) => logs.push(`${m} ${JSON.stringify(o)}`),
    warn: (o, m) => logs.push(`${m} ${JSON.stringify(o)}`),
    error: (o, m) => logs.push(`${m} ${JSON.stringify(o)}`),
  };
  const notifications: Notification[] = [];
  const downs: string[] = [];
  let readyCount = 0;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const handlers: ManagementHandlers = {
    onReady: () => {
      readyCount += 1;
      wake();
    },
    onDown: (e) => {
      downs.push(e);
      wake();
    },
    onNotification: (x) => {
      notifications.push(x);
      wake();
    },
  };
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise<void>((r) => waiters.push(r));
  };
  return { logs, logger, notifications, downs, handlers, until, ready: () => readyCount };
}

const clients: ManagementClient[] = [];
const servers: Server[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(
  address: string,
  r: ReturnType<typeof recorder>,
  extra: Partial<ConstructorParameters<typeof ManagementClient>[0]> = {},
): ManagementClient {
  const c = new ManagementClient(
    { address, logger: r.logger, backoffInitialMs: 20, backoffMaxMs: 50, ...extra },
    r.handlers,
  );
  clients.push(c);
  c.start();
  return c;
}

test('answers the password prompt and never logs the password', async () => {
  let got = '';
  const d = await fakeDaemon({
    onConnect: (s) => s.write('ENTER PASSWORD:'),
    onLine: (line, s) => {
      if (!got) {
        got = line;
        s.write(`SUCCESS: password is correct\n${BANNER}`);
      } else s.write('SUCCESS: pid=42\n');
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r, { password: async () => 's3cret-mgmt' });
  await r.until(() => r.ready() === 1);
  assert.equal(got, 's3cret-mgmt');
  assert.deepEqual(await c.command('pid', { timeoutMs: 1000 }), { ok: true, message: 'pid=42', lines: [] });
  assert.ok(!r.logs.join('\n').includes('s3cret-mgmt'));
});

test('a rejected password is reported as link down', async () => {
  const d = await fakeDaemon({
    onConnect: (s) => s.write('ENTER PASSWORD:'),
    onLine: (_l, s) => s.write('ENTER PASSWORD:'),
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r, { password: async () => 'wrong' });
  await r.until(() => r.downs.length > 0);
  assert.match(r.downs[0]!, /rejected the management password/);
  assert.equal(c.connected, false);
  await c.stop();
});

test('notifications between reply lines, and replies split at any byte', async () => {
  const d = await fakeDaemon({
    onLine: (line, s) => {
      if (line !== 'status 3') return;
      const text =
        'TITLE\tx\n>CLIENT:ESTABLISHED,5\n>CLIENT:ENV,common_name=a\n>CLIENT:ENV,password=pw\n>CLIENT:ENV,END\n' +
        'HEADER\tCLIENT_LIST\tClient ID\n>STATE:1,CONNECTED,SUCCESS\nCLIENT_LIST\t5\nEND\n';
      for (const ch of text) s.write(ch);
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  const reply = await c.command('status 3', { timeoutMs: 2000, multiline: true });
  assert.deepEqual(reply.lines, ['TITLE\tx', 'HEADER\tCLIENT_LIST\tClient ID', 'CLIENT_LIST\t5']);
  assert.deepEqual(r.notifications, [
    { kind: 'client', event: 'ESTABLISHED', cid: 5, kid: null, env: { common_name: 'a' } },
    { kind: 'state', state: { time: 1, name: 'CONNECTED', detail: 'SUCCESS' } },
  ]);
});

test('a command past its deadline rejects; its late reply does not answer the next command', async () => {
  const written: string[] = [];
  const d = await fakeDaemon({
    onLine: (line, s) => {
      written.push(line);
      if (line === 'pid') setTimeout(() => s.write('SUCCESS: pid=1\n'), 150);
      if (line === 'version') s.write('OpenVPN Version: test\nManagement Version: 5\nEND\n');
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  const late = c.command('pid', { timeoutMs: 30 });
  // A multi-line command waits until nothing is in flight, so this one expires unsent.
  const queued = c.command('status 3', { timeoutMs: 30, multiline: true });
  await assert.rejects(late, GatewayUnavailableError);
  await assert.rejects(queued, GatewayUnavailableError);
  const version = await c.command('version', { timeoutMs: 2000, multiline: true });
  assert.deepEqual(version.lines, ['OpenVPN Version: test', 'Management Version: 5']);
  assert.deepEqual(written, ['pid', 'version']);
});

test('pipelined commands: each gets its own reply, with notifications between the replies', async () => {
  const received: string[] = [];
  let pending: string[] = [];
  const d = await fakeDaemon({
    onLine: (line, s) => {
      received.push(line);
      const cid = Number(line.split(' ')[1]);
      // Replies name the Client ID (the daemon's do not) so that a mismatch shows.
      pending.push(
        cid % 3 === 0
          ? `ERROR: no client ${cid}`
          : `SUCCESS: killed ${cid}\n>CLIENT:DISCONNECT,${cid}\n>CLIENT:ENV,END`,
      );
      // Answer in bursts, as the daemon does for every read of its socket.
      if (pending.length === 5 || received.length === 20) {
        s.write(`${pending.join('\n>STATE:1,CONNECTED,SUCCESS\n')}\n`);
        pending = [];
      }
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  const cids = Array.from({ length: 20 }, (_, i) => i + 1);
  const replies = await Promise.all(cids.map((cid) => c.command(`client-kill ${cid} HALT`, { timeoutMs: 2000 })));
  assert.deepEqual(
    replies,
    cids.map((cid) =>
      cid % 3 === 0
        ? { ok: false, message: `no client ${cid}`, lines: [] }
        : { ok: true, message: `killed ${cid}`, lines: [] },
    ),
  );
  assert.deepEqual(
    r.notifications.filter((x) => x.kind === 'client').map((x) => x.cid),
    cids.filter((cid) => cid % 3 !== 0),
  );
  assert.equal(received.length, 20);
});

test('the commands of one turn leave in one write; a link lost before it fails them as possibly run, and the next link gets none', async () => {
  const received: string[] = [];
  const d = await fakeDaemon({
    onLine: (line, s) => {
      received.push(line);
      s.write(`SUCCESS: ${line}\n`);
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  const writes = mock.method(Socket.prototype, 'write');
  try {
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => c.command(`client-kill ${i} HALT`, { timeoutMs: 2000 })),
    );
    assert.equal(replies.length, 40);
    const ours = writes.mock.calls.filter((call) => String(call.arguments[0]).startsWith('client-kill'));
    assert.equal(ours.length, 1, 'one write for the 40 kills');
    assert.equal(String(ours[0]!.arguments[0]).split('\n').length, 41);
  } finally {
    writes.mock.restore();
  }
  assert.equal(received.length, 40);
  // Handed over, then the link drops before the turn ends: possibly run (the daemon may have read it),
  // and never written to the link that comes next.
  const lost = c.command('client-kill 99 HALT', { timeoutMs: 2000 });
  d.sockets[0]!.destroy();
  const error = await lost.then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof GatewayUnavailableError);
  assert.equal(error.mayTakeEffect, true);
  await r.until(() => r.ready() === 2);
  assert.deepEqual(await c.command('pid', { timeoutMs: 2000 }), { ok: true, message: 'pid', lines: [] });
  assert.ok(!received.includes('client-kill 99 HALT'), 'the lost kill was not written to the new link');
});

test('commands after which the daemon reads extra lines are refused (they would swallow the commands behind them)', async () => {
  const d = await fakeDaemon({ onLine: (_l, s) => s.write('SUCCESS: ok\n') });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  await assert.rejects(c.command('client-auth 1 2', { timeoutMs: 100 }), /extra lines/);
  assert.deepEqual(await c.command('client-auth-nt 1 2', { timeoutMs: 1000 }), { ok: true, message: 'ok', lines: [] });
});

/**
 * A daemon that answers `flood` by sending `unit` over and over, 4 MiB in all (64 times the bound the
 * client is given) or until the link drops, and `ping` with one line; for the bounds on what is taken
 * from the daemon.
 */
async function floodingDaemon(unit: string, first = ''): Promise<{ address: string }> {
  const d = await fakeDaemon({
    onLine: (line, s) => {
      if (line === 'ping') s.write('SUCCESS: pong\n');
      if (line !== 'flood') return;
      s.write(first);
      let left = 4 * 1024 * 1024;
      const more = () => {
        if (s.destroyed || left <= 0) return;
        const chunk = unit.repeat(64);
        left -= chunk.length;
        s.write(chunk, () => setImmediate(more));
      };
      more();
    },
  });
  servers.push(d.server);
  return d;
}

for (const [what, unit, first, multiline, reason] of [
  ['a line without its newline', 'x'.repeat(1024), '', false, /a line of more than 4096 characters/],
  ['a multi-line reply without its END', 'CLIENT_LIST\tc\t1.2.3.4:5\n', '', true, /"flood" ran past 65536 characters/],
  ['a >CLIENT: block without its ENV,END', '>CLIENT:ENV,k=v\n', '>CLIENT:CONNECT,1,0\n', false, /block ran past 65536/],
] as const) {
  test(`${what}, sent far past the bound: the link is reset with that reason, the command fails, the link comes back`, async () => {
    const d = await floodingDaemon(unit, first);
    const r = recorder();
    const c = client(d.address, r, { maxLineChars: 4096, maxMessageChars: 65536, stuckAfterMs: 60_000 });
    await r.until(() => r.ready() === 1);
    await assert.rejects(c.command('flood', { timeoutMs: 5_000, multiline }), (e) => {
      assert.ok(e instanceof GatewayUnavailableError);
      assert.match(e.message, reason);
      return true;
    });
    assert.match(r.downs[0]!, reason);
    await r.until(() => r.ready() === 2);
    assert.deepEqual(await c.command('ping', { timeoutMs: 5_000 }), { ok: true, message: 'pong', lines: [] });
  });
}

test('link loss rejects pending commands, reports down once, and reconnects', async () => {
  const d = await fakeDaemon({
    onLine: (line, s) => {
      if (line === 'drop') s.destroy();
    },
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r);
  await r.until(() => r.ready() === 1);
  await assert.rejects(c.command('drop', { timeoutMs: 2000 }), GatewayUnavailableError);
  await r.until(() => r.ready() === 2);
  assert.equal(r.downs.length, 1);
  assert.equal(c.connected, true);
  await assert.rejects(c.command('two\nlines', { timeoutMs: 100 }), /one line/);
});

test('a connection that never shows the banner (another client holds the socket) is retried', async () => {
  let connections = 0;
  const d = await fakeDaemon({
    onConnect: (s) => {
      connections += 1;
      if (connections > 1) s.write(BANNER);
    },
    onLine: () => {},
  });
  servers.push(d.server);
  const r = recorder();
  const c = client(d.address, r, { readyTimeoutMs: 50 });
  await r.until(() => r.ready() === 1);
  assert.match(r.downs[0]!, /no management banner/);
  assert.equal(c.connected, true);
});

test('commands while the link is down fail at once', async () => {
  const r = recorder();
  const c = client(`unix:${join(dir, 'nothing-here.sock')}`, r);
  await r.until(() => r.downs.length > 0);
  await assert.rejects(c.command('pid', { timeoutMs: 5000 }), GatewayUnavailableError);
  await c.stop();
});

test('management addresses', () => {
  assert.deepEqual(parseManagementAddress('unix:/run/openvpn/mgmt.sock'), { path: '/run/openvpn/mgmt.sock' });
  assert.deepEqual(parseManagementAddress('tcp://127.0.0.1:7505'), { host: '127.0.0.1', port: 7505 });
  assert.deepEqual(parseManagementAddress('tcp://[::1]:7505'), { host: '::1', port: 7505 });
  assert.throws(() => parseManagementAddress('127.0.0.1:7505'), /unix:\/path or tcp/);
});
