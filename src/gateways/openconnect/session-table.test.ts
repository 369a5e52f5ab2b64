import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterEvent } from '../adapter.js';
import { parseUsers } from './occtl-output.js';
import { occtlUsersJson } from './occtl-fixtures.test-support.js';
import { OcservSessionTable } from './session-table.js';

const users = (...u: Parameters<typeof occtlUsersJson>) => parseUsers(occtlUsersJson(...u));
const A = { id: 501, user: 'alice', safeId: 'AAAAAAaaaaaaBBBBBBbbbbbbCCCC=' };
const B = { id: 502, user: 'bob', safeId: 'BBBBBBbbbbbbCCCCCCccccccDDDD=' };

function table(holdMs = 10_000): { t: OcservSessionTable; events: AdapterEvent[] } {
  const events: AdapterEvent[] = [];
  return { t: new OcservSessionTable((e) => events.push(e), holdMs), events };
}

test('a listing is a snapshot of the connected tunnels only, with a stable connect time', () => {
  const { t, events } = table();
  t.applyListing(users(A, { ...B, state: 'pre-auth' }), 5);
  const snap = events.at(-1);
  assert.equal(snap?.type, 'snapshot');
  assert.deepEqual(snap.type === 'snapshot' && snap.sessions.map((s) => s.userName), ['alice']);
  const first = snap.type === 'snapshot' ? snap.sessions[0]!.connectedAt : 0;
  t.applyListing(users({ ...A, age: '   50s' }), 5);
  const again = events.at(-1);
  assert.equal(
    again?.type === 'snapshot' && again.sessions[0]!.connectedAt,
    first,
    'the age moved; the connect time did not',
  );
});

test("the client's own leaving is reported at once; an end without a client-side reason waits to learn whether ocserv is going", () => {
  const { t, events } = table();
  t.applyListing(users(A, B), 5);
  t.disconnected(A.id, 'user disconnected');
  assert.deepEqual(
    events.filter((e) => e.type === 'session.disconnected').map((e) => e.type === 'session.disconnected' && e.cause),
    ['CLIENT_DISCONNECT'],
  );
  t.disconnected(B.id, 'unknown');
  assert.equal(events.filter((e) => e.type === 'session.disconnected').length, 1, 'held');
  t.daemonGoing();
  assert.deepEqual(
    events.filter((e) => e.type === 'session.disconnected').map((e) => e.type === 'session.disconnected' && e.cause),
    ['CLIENT_DISCONNECT', 'GATEWAY_RESTART'],
  );
});

test("a held end with no daemon going is the client's, after the hold", async () => {
  const { t, events } = table(20);
  t.applyListing(users(A), 5);
  t.disconnected(A.id, 'unknown');
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(
    events.filter((e) => e.type === 'session.disconnected').map((e) => e.type === 'session.disconnected' && e.cause),
    ['CLIENT_DISCONNECT'],
  );
});

test('a tunnel the adapter ended is an admin disconnect, reported once, and not listed again', () => {
  const { t, events } = table();
  t.applyListing(users(A, B), 5);
  t.markKilled(`${A.id}:${A.safeId}`);
  t.applyListing(users(A, B), 5);
  const snap = events.at(-1);
  assert.deepEqual(snap?.type === 'snapshot' && snap.sessions.map((s) => s.userName), ['bob']);
  t.disconnected(A.id, 'server disconnected');
  t.disconnected(A.id, 'server disconnected');
  assert.deepEqual(
    events
      .filter((e) => e.type === 'session.disconnected')
      .map((e) => e.type === 'session.disconnected' && [e.ref, e.cause]),
    [[`${A.id}:${A.safeId}`, 'ADMIN_DISCONNECT']],
  );
  t.markKilled(`${B.id}:${B.safeId}`);
  t.disconnected(B.id, 'server disconnected');
  t.applyListing(users(), 5);
  assert.deepEqual(
    events.filter((e) => e.type === 'session.disconnected').map((e) => e.type === 'session.disconnected' && e.cause),
    ['ADMIN_DISCONNECT', 'ADMIN_DISCONNECT'],
  );
});
