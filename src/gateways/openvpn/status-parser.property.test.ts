/**
 * Property tests of the `status 3` / `status 2` parser: random rows with hostile common names and
 * usernames (commas, tabs, quotes, `=`, `>`, words such as END, non-ASCII), random column orders and
 * extra columns. The Client ID of a row must never be read from another field: it is what a
 * disconnect kills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStatus, StatusParseError, type StatusRow } from './status-parser.js';

const HEADER_V26 = [
  'Common Name',
  'Real Address',
  'Virtual Address',
  'Virtual IPv6 Address',
  'Bytes Received',
  'Bytes Sent',
  'Connected Since',
  'Connected Since (time_t)',
  'Username',
  'Client ID',
  'Peer ID',
  'Data Channel Cipher',
];

/** Text a client or a certificate may put in a name: anything printable, separators included, never a line break. */
const hostileText = (separators: string) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          ...separators.split(''),
          ' ',
          '"',
          "'",
          '=',
          '>',
          ':',
          '\\',
          'END',
          'SUCCESS:',
          'UNDEF',
          'CLIENT_LIST',
          'é',
          '名',
          '🙂',
        ),
        fc.string({ minLength: 1, maxLength: 3 }),
      ),
      { maxLength: 6 },
    )
    .map((parts) => parts.join('').replace(/[\r\n]/g, '_'));

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));

function rowArb(separators: string) {
  return fc.record({
    commonName: hostileText(separators),
    realAddress: fc.tuple(ipv4, fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `${ip}:${port}`),
    virtualAddress: ipv4,
    bytesReceived: fc.nat(),
    bytesSent: fc.nat(),
    connectedSince: fc.integer({ min: 1_000_000_000, max: 2_000_000_000 }),
    username: hostileText(separators).filter((u) => u !== '' && u !== 'UNDEF'),
    clientId: fc.nat(1_000_000),
  });
}

type Generated = Omit<StatusRow, 'virtualAddress6'>;

function field(row: Generated, column: string): string {
  switch (column) {
    case 'Common Name':
      return row.commonName;
    case 'Real Address':
      return row.realAddress;
    case 'Virtual Address':
      return row.virtualAddress ?? '';
    case 'Virtual IPv6 Address':
      return '';
    case 'Bytes Received':
      return String(row.bytesReceived);
    case 'Bytes Sent':
      return String(row.bytesSent);
    case 'Connected Since':
      return '2026-11-29 14:25:10';
    case 'Connected Since (time_t)':
      return String(row.connectedSince);
    case 'Username':
      return row.username ?? '';
    case 'Client ID':
      return String(row.clientId);
    case 'Peer ID':
      return String(row.clientId);
    case 'Data Channel Cipher':
      return 'AES-256-GCM';
    default:
      return 'x';
  }
}

function render(rows: Generated[], columns: string[], sep: string): string[] {
  return [
    `TITLE${sep}OpenVPN 2.6.14 x86_64-pc-linux-gnu`,
    `TIME${sep}2026-11-29 14:25:12${sep}1795962312`,
    ['HEADER', 'CLIENT_LIST', ...columns].join(sep),
    ...rows.map((r) => ['CLIENT_LIST', ...columns.map((c) => field(r, c))].join(sep)),
    ['HEADER', 'ROUTING_TABLE', 'Virtual Address', 'Common Name', 'Real Address', 'Last Ref', 'Last Ref (time_t)'].join(
      sep,
    ),
    ...rows.map((r) =>
      ['ROUTING_TABLE', r.virtualAddress, r.commonName, r.realAddress, '2026-11-29 14:25:10', '1795962310'].join(sep),
    ),
    `GLOBAL_STATS${sep}dco_enabled${sep}0`,
  ];
}

const expected = (r: Generated): StatusRow => ({ ...r, virtualAddress6: null });

for (const [format, sep] of [
  ['status 3 (tabs)', '\t'],
  ['status 2 (commas)', ','],
] as const) {
  test(`${format}: every row round-trips whatever its common name and username hold, separators included`, () => {
    fc.assert(
      fc.property(fc.array(rowArb('\t,'), { maxLength: 8 }), (rows) => {
        const report = parseStatus(render(rows, HEADER_V26, sep));
        assert.deepEqual(report.rows, rows.map(expected));
        assert.equal(report.time, 1795962312);
      }),
      { numRuns: 300 },
    );
  });
}

test('status 3: any column order and unknown extra columns; names free of the separator round-trip', () => {
  const columns = fc
    .shuffledSubarray(
      ['Data Channel Cipher', 'Peer ID', 'Virtual IPv6 Address', 'Bytes Sent', 'Connected Since', 'Future Column'],
      { minLength: 0 },
    )
    .chain((optional) =>
      fc.shuffledSubarray(
        [
          ...optional,
          'Common Name',
          'Real Address',
          'Virtual Address',
          'Client ID',
          'Username',
          'Bytes Received',
          'Connected Since (time_t)',
        ],
        { minLength: optional.length + 7, maxLength: optional.length + 7 },
      ),
    );
  fc.assert(
    fc.property(columns, fc.array(rowArb(','), { maxLength: 5 }), (cols, rows) => {
      const report = parseStatus(render(rows, cols, '\t'));
      const want = rows.map((r) => ({ ...expected(r), bytesSent: cols.includes('Bytes Sent') ? r.bytesSent : 0 }));
      assert.deepEqual(report.rows, want);
    }),
    { numRuns: 300 },
  );
});

test('arbitrary garbage lines: the parser returns rows or throws StatusParseError, nothing else, and never invents a Client ID', () => {
  const line = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc
      .array(
        fc.oneof(
          fc.constantFrom(
            'CLIENT_LIST',
            'HEADER',
            'TIME',
            'Client ID',
            'Virtual Address',
            '10.0.0.1',
            '1',
            '-1',
            'NaN',
            '',
          ),
          fc.string({ maxLength: 5 }),
        ),
        { maxLength: 14 },
      )
      .map((f) => f.join('\t')),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
      try {
        const report = parseStatus(lines);
        for (const row of report.rows)
          assert.ok(Number.isSafeInteger(row.clientId) && row.clientId >= 0, `client id ${row.clientId}`);
      } catch (e) {
        assert.ok(e instanceof StatusParseError, String(e));
      }
    }),
    { numRuns: 500 },
  );
});
