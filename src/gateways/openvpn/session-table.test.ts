/**
 * Two races seen against a real daemon under load (test/chaos/disconnect-race, mixed-load), where a
 * status read ended a live session for good:
 * - `>CLIENT:ESTABLISHED` announces a client, and a `status 3` read a moment later lists its Client
 *   ID without a virtual address yet;
 * - the ESTABLISHED block follows the status reply's END in the same chunk, so it is handled before
 *   the code awaiting the reply resumes with a reply that predates it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterEvent } from '../adapter.js';
import { SessionTable } from './session-table.js';
import { parseStatus } from './status-parser.js';

const HEADER =
  'HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher';
const row = (cn: string, cid: number, vaddr: string) =>
  `CLIENT_LIST\t${cn}\t127.0.0.1:${40000 + cid}\t${vaddr}\t\t10\t20\t2026-11-29 14:25:10\t1795962310\t${cn}\t${cid}\t${cid}\tAES-256-GCM`;

test('observe mode: a session announced by ESTABLISHED and listed without its address yet is not ended; one no longer listed is', () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), true, 0);
  const first = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(1795962300, first.rows, true, first.listedClientIds);
  table.applyClient(1795962300, {
    kind: 'client',
    event: 'ESTABLISHED',
    cid: 1,
    kid: null,
    env: {
      common_name: 'bob',
      username: 'bob',
      ifconfig_pool_remote_ip: '10.8.0.3',
      trusted_ip: '127.0.0.1',
      trusted_port: '40001',
    },
  });
  events.length = 0;

  const addressless = parseStatus([HEADER, row('alice', 0, '10.8.0.2'), row('bob', 1, '')]);
  assert.deepEqual(
    addressless.rows.map((r) => r.clientId),
    [0],
    'the parser still reports only rows with an address',
  );
  assert.deepEqual([...addressless.listedClientIds].sort(), [0, 1]);
  table.applyStatus(1795962300, addressless.rows, false, addressless.listedClientIds);
  assert.equal(events.length, 0, 'bob is listed: nothing ended');
  assert.equal(table.get(1)?.userName, 'bob');

  const gone = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(1795962300, gone.rows, false, gone.listedClientIds);
  assert.equal(events.length, 1);
  assert.deepEqual(
    { type: events[0]!.type, ref: (events[0] as { ref: string }).ref },
    { type: 'session.disconnected', ref: '1795962300:1' },
  );
});

/** carl's `>CLIENT:ESTABLISHED` (cid 7, with `env` beside his name and address), handled by `table`. */
function announceCarl(table: SessionTable, env: Record<string, string> = {}): void {
  table.applyClient(1795962300, {
    kind: 'client',
    event: 'ESTABLISHED',
    cid: 7,
    kid: null,
    env: { common_name: 'carl', ifconfig_pool_remote_ip: '10.8.0.9', ...env },
  });
}

test('a session announced while a status read was in flight is not ended by that read; the next read decides', () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), true, 0);
  const empty = parseStatus([HEADER]);
  table.applyStatus(1795962300, empty.rows, true, empty.listedClientIds);
  events.length = 0;

  table.statusReadStarted();
  // The reply (without carl) is complete, but the ESTABLISHED after it in the chunk is handled first.
  announceCarl(table);
  assert.deepEqual(
    events.map((e) => e.type),
    ['session.connected'],
  );
  table.applyStatus(1795962300, empty.rows, false, empty.listedClientIds);
  assert.deepEqual(
    events.map((e) => e.type),
    ['session.connected'],
    'the older reply cannot end carl',
  );

  table.statusReadStarted();
  table.applyStatus(1795962300, empty.rows, false, empty.listedClientIds);
  assert.deepEqual(
    events.map((e) => e.type),
    ['session.connected', 'session.disconnected'],
    'a read sent after carl was announced, without carl: gone',
  );
});

test('the client version of a session announced while a status read was in flight outlives that read', () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), true, 0);
  const empty = parseStatus([HEADER]);
  table.applyStatus(1795962300, empty.rows, true, empty.listedClientIds);
  table.statusReadStarted();
  // The ESTABLISHED after the reply's END in the same chunk: handled before the reply (without carl) is applied.
  announceCarl(table, { IV_VER: '2.6.14', IV_PLAT: 'linux' });
  table.applyStatus(1795962300, empty.rows, false, empty.listedClientIds);
  events.length = 0;
  table.statusReadStarted();
  const listed = parseStatus([HEADER, row('carl', 7, '10.8.0.9')]);
  table.applyStatus(1795962300, listed.rows, true, listed.listedClientIds);
  const snapshot = events.find((e) => e.type === 'snapshot');
  assert.deepEqual(
    snapshot?.sessions.map((s) => [s.userName, s.clientVersion, s.clientPlatform]),
    [['carl', '2.6.14', 'linux']],
  );
});

test("every session carries the daemon's transport from proto_1, also one only a status read listed; a new instance forgets it", () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), true, 0);
  const instance = 1795962300;
  const listed = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(instance, listed.rows, true, listed.listedClientIds);
  assert.equal(table.get(0)?.transport, null, 'no ENV seen yet: not known');

  const env = {
    common_name: 'bob',
    ifconfig_pool_remote_ip: '10.8.0.3',
    trusted_ip: '127.0.0.1',
    proto_1: 'tcp4-server',
  };
  table.applyClient(instance, { kind: 'client', event: 'ESTABLISHED', cid: 1, kid: null, env });
  assert.equal(table.get(1)?.transport, 'TCP');
  const both = parseStatus([HEADER, row('alice', 0, '10.8.0.2'), row('bob', 1, '10.8.0.3')]);
  table.applyStatus(instance, both.rows, true, both.listedClientIds);
  assert.deepEqual(
    [table.get(0)?.transport, table.get(1)?.transport],
    ['TCP', 'TCP'],
    "alice's row is the same daemon's: TCP as well",
  );

  table.reset();
  table.applyStatus(instance + 5, listed.rows, true, listed.listedClientIds);
  assert.equal(table.get(0)?.transport, null);
  table.applyClient(instance + 5, {
    kind: 'client',
    event: 'CONNECT',
    cid: 1,
    kid: 0,
    env: { ...env, proto_1: 'udp4' },
  });
  table.applyStatus(instance + 5, listed.rows, true, listed.listedClientIds);
  assert.equal(table.get(0)?.transport, 'UDP');
});

test('the transport learnt after a session was listed goes out in a snapshot at the next status read, not only the periodic one', () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), false, 0);
  const instance = 1795962300;
  const listed = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(instance, listed.rows, false, listed.listedClientIds);
  table.applyStatus(instance, listed.rows, false, listed.listedClientIds);
  events.length = 0;
  table.applyStatus(instance, listed.rows, false, listed.listedClientIds);
  assert.equal(events.length, 0, 'nothing changed: no snapshot between the periodic ones');

  table.applyClient(instance, {
    kind: 'client',
    event: 'CONNECT',
    cid: 1,
    kid: 0,
    env: { common_name: 'bob', proto_1: 'udp4' },
  });
  table.applyStatus(instance, listed.rows, false, listed.listedClientIds);
  const snapshot = events.find((e) => e.type === 'snapshot');
  assert.ok(snapshot?.type === 'snapshot', 'a snapshot at once');
  assert.deepEqual(
    snapshot.sessions.map((s) => [s.userName, s.transport]),
    [['alice', 'UDP']],
  );
});
