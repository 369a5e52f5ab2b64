/**
 * Pipelined management commands against a real OpenVPN daemon: several commands in one write, many
 * `client-kill`s in flight at once through the management client and through the adapter, each reply
 * matched to its own command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { pino } from 'pino';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from '../../../test/support/openvpn-lab.js';
import { waitFor } from '../../../test/support/wait.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { silentLogger } from '../../domain/logger.js';
import { DEFAULT_MAX_IN_FLIGHT } from './command-queue.js';
import { ManagementClient } from './management-client.js';
import { OpenVpnAdapter } from './openvpn-adapter.js';
import { parseStatus } from './status-parser.js';

const skip = openvpnSkipReason();
const logger = pino({ level: 'silent' });
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'];

/** Sends `text` in one write on a fresh management connection; resolves with the non-`>` lines read until `isLast` says so. */
async function rawExchange(srv: LabServer, text: string, isLast: (lines: string[]) => boolean): Promise<string[]> {
  const socket = connect(srv.management.slice('unix:'.length));
  socket.setEncoding('utf8');
  try {
    return await new Promise<string[]>((resolve, reject) => {
      let buffer = '';
      const lines: string[] = [];
      socket.on('error', reject);
      socket.on('data', (d: string) => {
        buffer += d;
        for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
          const line = buffer.slice(0, i).replace(/\r$/, '');
          buffer = buffer.slice(i + 1);
          if (line.startsWith('>INFO:')) socket.write(text);
          else if (!line.startsWith('>')) lines.push(line);
          if (isLast(lines)) resolve(lines);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

/** A management client on `srv`, connected, with the daemon's status rows; stopped after `fn`. */
async function withLink(
  srv: LabServer,
  fn: (link: ManagementClient, rows: ReturnType<typeof parseStatus>['rows']) => Promise<void>,
): Promise<void> {
  const link = new ManagementClient(
    { address: srv.management, logger: silentLogger },
    { onReady: () => {}, onDown: () => {}, onNotification: () => {} },
  );
  link.start();
  try {
    await waitFor(() => link.connected, 10_000, 'the management link', 10);
    const { rows } = parseStatus((await link.command('status 3', { timeoutMs: 5000, multiline: true })).lines);
    await fn(link, rows);
  } finally {
    await link.stop();
  }
}

describe('pipelined management commands against a real daemon', { skip }, () => {
  let lab: OpenVpnLab;
  let srv: LabServer;
  const clients: Record<string, LabClient> = {};

  before(async () => {
    lab = await OpenVpnLab.create();
    srv = await lab.startServer({ proto: 'tcp4', mode: 'observe' });
    for (const c of await Promise.all(USERS.map((user) => srv.startClient({ user })))) clients[c.user!] = c;
  });
  after(async () => {
    await srv?.stopAll();
    await lab?.close();
  });

  test('several commands in one write: the daemon answers each, in order', async () => {
    const lines = await rawExchange(srv, 'pid\nclient-kill 99999 HALT\nversion\nload-stats\n', (l) =>
      l.some((x) => x.startsWith('SUCCESS: nclients=')),
    );
    assert.equal(lines.length, 6, lines.join('\n'));
    assert.match(lines[0]!, /^SUCCESS: pid=\d+$/);
    assert.equal(lines[1], 'ERROR: client-kill command failed');
    assert.match(lines[2]!, /^OpenVPN Version: /);
    assert.match(lines[3]!, /^Management Version: /);
    assert.equal(lines[4], 'END');
    assert.match(lines[5]!, new RegExp(`^SUCCESS: nclients=${USERS.length},`));
  });

  test("kills in flight at once through the management client: each reply is its own command's", async () => {
    await withLink(srv, async (link, rows) => {
      const cidOf = (user: string) => rows.find((r) => r.commonName === user)!.clientId;
      const victims = ['u1', 'u2', 'u3', 'u4'];
      // Unknown Client IDs between the real ones, and other commands in the same stream.
      const commands: [string, boolean][] = [
        [`client-kill ${cidOf('u1')} HALT`, false],
        ['client-kill 99991 HALT', false],
        [`client-kill ${cidOf('u2')} HALT`, false],
        ['pid', false],
        [`client-kill ${cidOf('u3')} HALT`, false],
        ['client-kill 99992 HALT', false],
        ['status 3', true],
        [`client-kill ${cidOf('u4')} HALT`, false],
        ['load-stats', false],
      ];
      const replies = await Promise.all(
        commands.map(([text, multiline]) => link.command(text, { timeoutMs: 5000, multiline })),
      );
      const firstLines = replies.map((r) =>
        r.lines.length > 0 ? r.lines[0]!.split('\t')[0] : `${r.ok ? 'SUCCESS' : 'ERROR'}: ${r.message}`,
      );
      assert.deepEqual(
        firstLines.map((l) => l!.replace(/=\d+.*$/, '=')),
        [
          'SUCCESS: client-kill command succeeded',
          'ERROR: client-kill command failed',
          'SUCCESS: client-kill command succeeded',
          'SUCCESS: pid=',
          'SUCCESS: client-kill command succeeded',
          'ERROR: client-kill command failed',
          'TITLE',
          'SUCCESS: client-kill command succeeded',
          'SUCCESS: nclients=',
        ],
      );
      // The status read was answered before the kill written behind it.
      const listed = parseStatus(replies[6]!.lines).rows.map((r) => r.clientId);
      assert.ok(listed.includes(cidOf('u4')) && listed.includes(cidOf('u5')));
      await Promise.all(victims.map((u) => clients[u]!.waitExited()));
      for (const u of USERS.filter((x) => !victims.includes(x))) assert.equal(clients[u]!.exited, false, `${u} exited`);
    });
  });

  test('disconnects at once through the adapter: ENDED for each live session, NOT_FOUND for the unknown one', async () => {
    const events = new AdapterEventLog();
    const adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger });
    adapter.start(events.push);
    try {
      const snap = await events.waitFor('snapshot', (e) => e.sessions.length === 4);
      const refOf = (user: string) => snap.sessions.find((s) => s.userName === user)!.ref;
      const prefix = refOf('u5').split(':')[0];
      const outcomes = await Promise.all([
        adapter.disconnect({ ref: refOf('u5'), userName: 'u5', mode: 'HALT' }, 5000),
        adapter.disconnect({ ref: `${prefix}:99993`, userName: 'nobody', mode: 'HALT' }, 5000),
        adapter.disconnect({ ref: refOf('u6'), userName: 'u6', mode: 'HALT' }, 5000),
        adapter.disconnect({ ref: refOf('u7'), userName: 'u7', mode: 'HALT' }, 5000),
      ]);
      assert.deepEqual(outcomes, ['ENDED', 'NOT_FOUND', 'ENDED', 'ENDED']);
      await Promise.all(['u5', 'u6', 'u7'].map((u) => clients[u]!.waitExited()));
      assert.equal(clients.u8!.exited, false);
    } finally {
      await adapter.stop();
    }
  });

  test('more commands at once than the default depth: each of 300 answered in order, the one real kill behind them ends its client', async () => {
    await withLink(srv, async (link, rows) => {
      const u8 = rows.find((r) => r.commonName === 'u8')!.clientId;
      // Unknown Client IDs and pids (both one-line answers), more than twice the default depth: the link
      // keeps DEFAULT_MAX_IN_FLIGHT of them written and unanswered, then the real kill comes last.
      const commands = Array.from({ length: 299 }, (_, i) => (i % 2 === 0 ? `client-kill ${90_000 + i} HALT` : 'pid'));
      commands.push(`client-kill ${u8} HALT`);
      assert.ok(commands.length > 2 * DEFAULT_MAX_IN_FLIGHT);
      const replies = await Promise.all(commands.map((text) => link.command(text, { timeoutMs: 20_000 })));
      const seen = replies.map((r) => (r.ok ? 'SUCCESS' : 'ERROR') + (/^pid=\d+$/.test(r.message) ? ' pid' : ''));
      const expected = commands.map((c, i) =>
        c === 'pid' ? 'SUCCESS pid' : i === commands.length - 1 ? 'SUCCESS' : 'ERROR',
      );
      assert.deepEqual(seen, expected);
      await clients.u8!.waitExited();
    });
  });
});
