import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterEvent } from '../adapter.js';
import { listSa, msg } from './fake-vici.test-support.js';
import { ikeSasOf, type IkeSa } from './ike-sa.js';
import { IkeSessionTable } from './ike-session-table.js';

const NOW = 1_800_000_000_000;
const sa = (o: Record<string, unknown> = {}): IkeSa => ikeSasOf(listSa(o)).sas[0]!;
const child = (id: string, bytesIn: string, bytesOut: string) =>
  msg({
    [`net-${id}`]: msg({ name: 'net', uniqueid: id, state: 'INSTALLED', 'bytes-in': bytesIn, 'bytes-out': bytesOut }),
  });

function table() {
  const events: AdapterEvent[] = [];
  return {
    events,
    t: new IkeSessionTable(
      (e) => events.push(e),
      () => NOW,
    ),
  };
}

test('a list is a snapshot of the live SAs; connectedAt is fixed at first sight', () => {
  const { events, t } = table();
  t.applyList(
    [sa({ established: '10' }), sa({ uniqueid: '3', state: 'DELETING', 'initiator-spi': '1111111111111111' })],
    7,
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ['session.connected', 'snapshot'],
    'new to the table: announced, then the snapshot',
  );
  const snap = events[1] as Extract<AdapterEvent, { type: 'snapshot' }>;
  assert.equal(snap.daemonStartedAt, 7);
  assert.deepEqual(
    snap.sessions.map((s) => [s.userName, s.connectedAt]),
    [['user2', NOW - 10_000]],
  );
  t.applyList([sa({ established: '12' })], 7);
  assert.deepEqual(
    events.slice(2).map((e) => e.type),
    ['snapshot'],
    'known: only the snapshot',
  );
  assert.equal((events[2] as Extract<AdapterEvent, { type: 'snapshot' }>).sessions[0]!.connectedAt, NOW - 10_000);
});

test('a list on the same connection ends the SAs whose down event was missed; after a reconnect it leaves that to the snapshot', () => {
  const { events, t } = table();
  const other = { uniqueid: '3', 'initiator-spi': '3333333333333333' };
  t.applyList([sa(), sa(other)], 7);
  t.applyList([sa()], 7);
  assert.deepEqual(
    events
      .filter((e) => e.type === 'session.disconnected')
      .map((e) => e.type === 'session.disconnected' && [e.ref.split(':')[0], e.cause]),
    [['3', 'CLIENT_DISCONNECT']],
  );
  t.markStale();
  const from = events.length;
  t.applyList([], 8);
  assert.deepEqual(
    events.slice(from).map((e) => e.type),
    ['snapshot'],
  );
  assert.equal(t.isFresh, true);
});

test("updown events: connected once; down is the client's own unless the adapter terminated it", () => {
  const { events, t } = table();
  t.applyList([], null);
  t.applyUpDown([sa()], true);
  t.applyUpDown([sa()], true);
  assert.deepEqual(
    events.slice(1).map((e) => e.type),
    ['session.connected'],
  );
  const ref = t.find('2:5c5333dbcbd66be6:c532429b12d945af');
  assert.deepEqual(ref, { uniqueId: 2, userName: 'user2' });
  t.applyUpDown([sa({ uniqueid: '3', 'initiator-spi': '3333333333333333' })], true);
  t.markTerminated(2);
  t.applyUpDown([sa()], false);
  t.applyUpDown([sa({ uniqueid: '3', 'initiator-spi': '3333333333333333' })], false);
  assert.deepEqual(
    events
      .filter((e) => e.type === 'session.disconnected')
      .map((e) => e.type === 'session.disconnected' && [e.ref.split(':')[0], e.cause, e.bytesReceived]),
    [
      ['2', 'ADMIN_DISCONNECT', 132],
      ['3', 'CLIENT_DISCONNECT', 132],
    ],
  );
});

test('a down event for another SA with the same unique id (charon restarted) ends nothing', () => {
  const { events, t } = table();
  t.applyList([sa()], null);
  t.applyUpDown([sa({ 'responder-spi': '9999999999999999' })], false);
  assert.equal(events.filter((e) => e.type === 'session.disconnected').length, 0);
});

test("bytes of CHILD SAs that went away (rekeyed, closed) are kept: a session's bytes never drop", () => {
  const { events, t } = table();
  t.applyList([sa({ 'child-sas': child('1', '100', '10') })], null);
  t.applyChildUpDown([sa({ 'child-sas': child('1', '150', '20') })], false);
  t.applyChildUpDown([sa({ 'child-sas': child('4', '0', '0') })], true);
  t.applyList([sa({ 'child-sas': child('4', '5', '6') })], null);
  const last = events.at(-1) as Extract<AdapterEvent, { type: 'snapshot' }>;
  assert.deepEqual([last.sessions[0]!.bytesReceived, last.sessions[0]!.bytesSent], [155, 26]);
});

test('an IKE rekey keeps the session and its ref; the new unique id is what gets terminated', () => {
  const { events, t } = table();
  t.applyList([sa({ 'child-sas': child('1', '100', '10') })], null);
  const from = events.length;
  const fresh = sa({
    uniqueid: '9',
    'initiator-spi': 'aaaaaaaaaaaaaaaa',
    'responder-spi': 'bbbbbbbbbbbbbbbb',
    'child-sas': child('1', '100', '10'),
  });
  t.applyRekey(sa(), fresh);
  assert.deepEqual(t.find('2:5c5333dbcbd66be6:c532429b12d945af'), { uniqueId: 9, userName: 'user2' });
  t.applyList([fresh], null);
  const last = events.at(-1) as Extract<AdapterEvent, { type: 'snapshot' }>;
  assert.deepEqual(
    last.sessions.map((s) => [s.ref, s.bytesReceived]),
    [['2:5c5333dbcbd66be6:c532429b12d945af', 100]],
  );
  assert.equal(events.slice(from).filter((e) => e.type !== 'snapshot').length, 0, 'neither ended nor announced again');
});

test('endAll ends every session with the cause given', () => {
  const { events, t } = table();
  t.applyList([sa(), sa({ uniqueid: '3', 'initiator-spi': '3333333333333333' })], null);
  t.endAll('GATEWAY_RESTART');
  assert.deepEqual(
    events.filter((e) => e.type === 'session.disconnected').map((e) => e.type === 'session.disconnected' && e.cause),
    ['GATEWAY_RESTART', 'GATEWAY_RESTART'],
  );
});
