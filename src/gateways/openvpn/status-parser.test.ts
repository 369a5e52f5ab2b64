import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatus, StatusParseError } from './status-parser.js';

// Verbatim `status 3` from OpenVPN 2.6.14 (tabs), including a client still being authorized (no address).
const STATUS_3 = [
  'TITLE\tOpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] [LZ4] [EPOLL] [PKCS11] [MH/PKTINFO] [AEAD] [DCO]',
  'TIME\t2026-11-29 14:25:12\t1795962312',
  'HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher',
  'CLIENT_LIST\tclient1\t127.0.0.1:48286\t10.9.0.3\t\t1971\t2049\t2026-11-29 14:25:10\t1795962310\talice\t0\t0\tAES-256-GCM',
  'CLIENT_LIST\tclient3\t127.0.0.1:53745\t\t\t1923\t1868\t2026-11-29 14:25:10\t1795962310\tUNDEF\t2\t2\tBF-CBC',
  'CLIENT_LIST\tclient2\t127.0.0.1:49827\t10.9.0.2\tfd00::1000\t1957\t2049\t2026-11-29 14:25:10\t1795962311\tUNDEF\t1\t1\tAES-256-GCM',
  'HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\tReal Address\tLast Ref\tLast Ref (time_t)',
  'ROUTING_TABLE\t10.9.0.3\tclient1\t127.0.0.1:48286\t2026-11-29 14:25:10\t1795962310',
  'GLOBAL_STATS\tMax bcast/mcast queue length\t3',
  'GLOBAL_STATS\tdco_enabled\t0',
];

test('status 3: rows with a virtual address are sessions, UNDEF is no username', () => {
  const report = parseStatus(STATUS_3);
  assert.equal(report.time, 1795962312);
  assert.deepEqual(report.rows, [
    {
      commonName: 'client1',
      realAddress: '127.0.0.1:48286',
      virtualAddress: '10.9.0.3',
      virtualAddress6: null,
      bytesReceived: 1971,
      bytesSent: 2049,
      connectedSince: 1795962310,
      username: 'alice',
      clientId: 0,
    },
    {
      commonName: 'client2',
      realAddress: '127.0.0.1:49827',
      virtualAddress: '10.9.0.2',
      virtualAddress6: 'fd00::1000',
      bytesReceived: 1957,
      bytesSent: 2049,
      connectedSince: 1795962311,
      username: null,
      clientId: 1,
    },
  ]);
});

test('status 3: columns are found by header name, not position', () => {
  const report = parseStatus([
    'HEADER\tCLIENT_LIST\tClient ID\tUsername\tVirtual Address\tCommon Name\tReal Address\tNew Column',
    'CLIENT_LIST\t7\tbob\t10.9.0.9\tcn-bob\t192.0.2.1:5000\tx',
  ]);
  assert.equal(report.rows.length, 1);
  assert.equal(report.rows[0]?.clientId, 7);
  assert.equal(report.rows[0]?.username, 'bob');
  assert.equal(report.rows[0]?.commonName, 'cn-bob');
  assert.equal(report.rows[0]?.realAddress, '192.0.2.1:5000');
  assert.equal(report.rows[0]?.virtualAddress6, null);
  assert.equal(report.rows[0]?.bytesSent, 0);
});

test('status 3: an IPv6-only client is a session', () => {
  const report = parseStatus([
    STATUS_3[2]!,
    'CLIENT_LIST\tv6\t127.0.0.1:1\t\tfd00::5\t1\t2\tx\t3\tUNDEF\t4\t4\tAES-256-GCM',
  ]);
  assert.equal(report.rows[0]?.virtualAddress, null);
  assert.equal(report.rows[0]?.virtualAddress6, 'fd00::5');
});

test('status 2 (commas) parses the same way', () => {
  const report = parseStatus(STATUS_3.map((l) => l.replaceAll('\t', ',')));
  assert.deepEqual(
    report.rows.map((r) => r.clientId),
    [0, 1],
  );
});

test('status 3: no report without a Client ID column, or a row before its header', () => {
  assert.throws(
    () => parseStatus(['HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address']),
    StatusParseError,
  );
  assert.throws(() => parseStatus([STATUS_3[3]!]), StatusParseError);
});

test('status 3 with no clients', () => {
  assert.deepEqual(parseStatus([STATUS_3[0]!, STATUS_3[1]!, STATUS_3[2]!, STATUS_3[6]!]).rows, []);
});
