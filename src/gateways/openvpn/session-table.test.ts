/**
 * A race seen against a real daemon with 60 clients connecting at once (test/chaos/disconnect-race):
 * `>CLIENT:ESTABLISHED` announces a client, and a `status 3` read a moment later lists its Client ID
 * without a virtual address yet. That read must not end the session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterEvent } from '../adapter.js';
import { SessionTable } from './session-table.js';
import { parseStatus } from './status-parser.js';

const HEADER = 'HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher';
const row = (cn: string, cid: number, vaddr: string) => `CLIENT_LIST\t${cn}\t127.0.0.1:${40000 + cid}\t${vaddr}\t\t10\t20\t2026-11-29 14:25:10\t1795962310\t${cn}\t${cid}\t${cid}\tAES-256-GCM`;

test('observe mode: a session announced by ESTABLISHED and listed without its address yet is not ended; one no longer listed is', () => {
  const events: AdapterEvent[] = [];
  const table = new SessionTable((e) => events.push(e), true, 0);
  const first = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(1795962300, first.rows, true, first.listedClientIds);
  table.applyClient(1795962300, { kind: 'client', event: 'ESTABLISHED', cid: 1, kid: null, env: { common_name: 'bob', username: 'bob', ifconfig_pool_remote_ip: '10.8.0.3', trusted_ip: '127.0.0.1', trusted_port: '40001' } });
  events.length = 0;

  const addressless = parseStatus([HEADER, row('alice', 0, '10.8.0.2'), row('bob', 1, '')]);
  assert.deepEqual(addressless.rows.map((r) => r.clientId), [0], 'the parser still reports only rows with an address');
  assert.deepEqual([...addressless.listedClientIds].sort(), [0, 1]);
  table.applyStatus(1795962300, addressless.rows, false, addressless.listedClientIds);
  assert.equal(events.length, 0, 'bob is listed: nothing ended');
  assert.equal(table.get(1)?.userName, 'bob');

  const gone = parseStatus([HEADER, row('alice', 0, '10.8.0.2')]);
  table.applyStatus(1795962300, gone.rows, false, gone.listedClientIds);
  assert.equal(events.length, 1);
  assert.deepEqual({ type: events[0]!.type, ref: (events[0] as { ref: string }).ref }, { type: 'session-disconnected', ref: '1795962300:1' });
});
