import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listSa, msg } from './fake-vici.test-support.js';
import { addressOf, ikeSasOf, ikeSessionRef, reportOf, uniqueIdOf, userNameOf } from './ike-sa.js';
import { daemonStartedAtOf, terminateOutcome } from './vici-replies.js';

test('a listed IKE SA becomes a session report', () => {
  const { sas, invalid } = ikeSasOf(listSa());
  assert.deepEqual(invalid, []);
  const r = reportOf(sas[0]!, 1000, { received: 132, sent: 216 });
  assert.deepEqual(r, {
    ref: '2:5c5333dbcbd66be6:c532429b12d945af',
    userName: 'user2',
    commonName: 'client2@lab.test',
    clientAddress: '10.90.2.2:4500',
    virtualAddress: '10.91.0.2',
    virtualAddress6: 'fd00::2',
    connectedAt: 1000,
    bytesReceived: 132,
    bytesSent: 216,
    clientVersion: 'IKEv2 AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519',
    clientPlatform: null,
  });
});

test('the user is the EAP identity, else the XAuth identity, else the IKE identity (certificate subject or PSK id)', () => {
  const sa = (o: Record<string, unknown>) => ikeSasOf(listSa(o)).sas[0]!;
  assert.equal(userNameOf(sa({})), 'user2');
  assert.equal(userNameOf(sa({ 'remote-eap-id': undefined, 'remote-xauth-id': 'xa' })), 'xa');
  assert.equal(
    userNameOf(sa({ 'remote-eap-id': undefined, 'remote-id': 'C=CH, O=Lab, CN=carol' })),
    'C=CH, O=Lab, CN=carol',
  );
});

test('refs carry the SPIs, so unique ids that restart at 1 never give the same ref twice', () => {
  const a = ikeSasOf(listSa({ uniqueid: '1' })).sas[0]!;
  const b = ikeSasOf(listSa({ uniqueid: '1', 'initiator-spi': '0000000000000001' })).sas[0]!;
  assert.notEqual(ikeSessionRef(a), ikeSessionRef(b));
  assert.equal(uniqueIdOf(ikeSessionRef(a)), 1);
  for (const bad of [
    '1',
    '1:2:3',
    'x:5c5333dbcbd66be6:c532429b12d945af',
    '99999999999:5c5333dbcbd66be6:c532429b12d945af',
  ])
    assert.equal(uniqueIdOf(bad), null, bad);
});

test('a section that does not match the schema is reported, not guessed at; plain keys are skipped', () => {
  const m = listSa({ uniqueid: 'two' });
  m.up = 'yes';
  const { sas, invalid } = ikeSasOf(m);
  assert.equal(sas.length, 0);
  assert.match(invalid[0]!, /^rw: uniqueid/);
});

test('addresses: IPv4 host:port, IPv6 [host]:port', () => {
  assert.equal(addressOf('10.0.0.1', 4500), '10.0.0.1:4500');
  assert.equal(addressOf('2001:db8::1', 500), '[2001:db8::1]:500');
  assert.equal(addressOf(undefined, 500), null);
});

test('terminate replies: confirmed, not found, or not confirmed', () => {
  assert.deepEqual(terminateOutcome(msg({ success: 'yes', matches: '1', terminated: '1' })), { kind: 'terminated' });
  assert.deepEqual(
    terminateOutcome(
      msg({ success: 'no', errmsg: 'no matching SAs to terminate found', matches: '0', terminated: '0' }),
    ),
    { kind: 'not-found' },
  );
  assert.deepEqual(
    terminateOutcome(msg({ success: 'no', errmsg: 'terminating SA failed', matches: '1', terminated: '0' })),
    { kind: 'unconfirmed', message: 'terminating SA failed' },
  );
  assert.equal(terminateOutcome(msg({ success: 'maybe' })).kind, 'unconfirmed');
});

test('the daemon start time from stats', () => {
  assert.equal(
    daemonStartedAtOf(msg({ uptime: msg({ running: '5 seconds', since: 'Dec 06 10:00:59 2026' }) })),
    Date.parse('Dec 06 10:00:59 2026'),
  );
  assert.equal(daemonStartedAtOf(msg({ uptime: msg({ since: 'whenever' }) })), null);
  assert.equal(daemonStartedAtOf(msg({})), null);
});
