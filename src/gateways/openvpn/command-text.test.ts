import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientDenyCommand, clientKillCommand, killMessage, quoteArg } from './command-text.js';
import { clientInfoOf, isKillableAddress, parseSessionRef, sessionRef, userNameOf } from './session-reports.js';
import { sessionReportSchema } from '../../core/reports.js';

test('quoteArg escapes quotes and backslashes the way the daemon unescapes them', () => {
  assert.equal(quoteArg('a "b" \\ c'), '"a \\"b\\" \\\\ c"');
});

test('client-kill carries the mode and an optional message', () => {
  assert.equal(clientKillCommand(4, 'HALT', null), 'client-kill 4 "HALT"');
  assert.equal(clientKillCommand(4, 'RESTART', '  Please reconnect '), 'client-kill 4 "RESTART,Please reconnect"');
});

test('a message cannot break the command line and stays under the 256-character limit', () => {
  assert.equal(killMessage('HALT', 'line1\nline2\r\u0000x'), 'HALT,line1 line2 x');
  const long = killMessage('HALT', 'é'.repeat(400));
  assert.ok(Buffer.byteLength(long) <= 240);
  assert.ok(long.startsWith('HALT,é'));
  assert.ok(!long.includes('\uFFFD'));
});

test('client-deny has a log reason and a client reason', () => {
  assert.equal(clientDenyCommand(3, 1, 'blocked', 'Try "later"'), 'client-deny 3 1 "blocked" "Try \\"later\\""');
});

test('session refs', () => {
  assert.equal(sessionRef(1795964221, 12), '1795964221:12');
  assert.deepEqual(parseSessionRef('1795964221:12'), { instanceStartedAt: 1795964221, clientId: 12 });
  for (const bad of ['', '1795964221', '1795964221:', 'x:1', '1:2:3', '1795964221:-1'])
    assert.equal(parseSessionRef(bad), null, bad);
});

test('the user is the verified identity: the common name, or a username only when the gateway trusts it', () => {
  // A username the daemon checks is the user; a client admitted without one is its certificate.
  assert.equal(userNameOf('username', 'alice', 'cn'), 'alice');
  assert.equal(userNameOf('username', 'UNDEF', 'cn'), 'cn');
  assert.equal(userNameOf('username', '', 'cn'), 'cn');
  assert.equal(userNameOf('username', undefined, undefined), '');
  // Certificate identity: whatever username the client sends, the user is the common name.
  assert.equal(userNameOf('certificate', 'alice', 'cn'), 'cn');
  assert.equal(userNameOf('certificate', 'UNDEF', 'cn'), 'cn');
  assert.equal(userNameOf('certificate', 'alice', undefined), '');
});

test('only IPv4 ip:port can be given to `kill`', () => {
  assert.equal(isKillableAddress('127.0.0.1:5000'), true);
  assert.equal(isKillableAddress('[2001:db8::1]:5000'), false);
  assert.equal(isKillableAddress(null), false);
});

test("a client's version and platform of any length fit the wire contract, so one client cannot sink a snapshot", () => {
  const info = clientInfoOf({ IV_VER: `2.6.${'9'.repeat(3000)}`, IV_PLAT: `${'p'.repeat(254)}😀x` });
  assert.equal(info.version!.length, 256);
  assert.ok(info.version!.startsWith('2.6.999') && info.version!.endsWith('…'));
  assert.equal(info.platform, `${'p'.repeat(254)}…`, 'never half a surrogate pair');
  assert.deepEqual(clientInfoOf({ IV_VER: '2.6.14', IV_PLAT: 'linux' }), { version: '2.6.14', platform: 'linux' });
  assert.deepEqual(clientInfoOf({}), { version: null, platform: null });
  const report = {
    ref: '1:1',
    userName: 'mallory',
    commonName: 'mallory',
    clientAddress: null,
    virtualAddress: null,
    virtualAddress6: null,
    connectedAt: 0,
    bytesReceived: 0,
    bytesSent: 0,
    clientVersion: info.version,
    clientPlatform: info.platform,
  };
  assert.equal(sessionReportSchema.safeParse(report).success, true);
});
