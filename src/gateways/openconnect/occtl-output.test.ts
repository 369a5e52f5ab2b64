import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  asOcctlJsonText,
  connectedAtOf,
  namesFromText,
  OcctlOutputError,
  parseAge,
  parseEventLine,
  parseStatus,
  parseUsers,
} from './occtl-output.js';
import { occtlUserJson, occtlUsersJson } from './occtl-fixtures.test-support.js';

describe('occtl output', () => {
  test("a user row becomes a tunnel in Switchboard's terms", () => {
    const now = 1_800_000_000_000;
    const [u, ...rest] = parseUsers(`[\n${occtlUserJson()}\n]\n`, now);
    assert.equal(rest.length, 0);
    assert.deepEqual(u, {
      id: 12722,
      userName: 'user2',
      groupName: null,
      state: 'connected',
      device: 'vpns1',
      remoteIp: '192.0.2.7',
      ipv4: '10.93.0.249',
      ipv6: null,
      userAgent: 'Open AnyConnect VPN Agent v9.01-3',
      hostname: 'laptop',
      bytesReceived: 1200,
      bytesSent: 3400,
      connectedAt: now - 42_000,
      safeId: 'r19iEhajdKCCN3bYUcEZpwG2hx4=',
    });
    assert.equal(parseUsers(`[\n${occtlUserJson({ group: 'staff' })}\n]`)[0]?.groupName, 'staff');
  });

  test('an empty listing is an empty array; anything unexpected is an error, never an empty listing', () => {
    assert.deepEqual(parseUsers('[\n]\n'), []);
    for (const bad of [
      '',
      'error connecting to ocserv socket',
      '[\n  {\n',
      '{}',
      `[\n${occtlUserJson({ rx: 'lots' })}\n]`,
      `[\n${occtlUserJson({ safeId: 'no spaces allowed' })}\n]`,
      `[\n${occtlUserJson().replace('"ID":  12722', '"ID":  "12722"')}\n]`,
    ]) {
      assert.throws(() => parseUsers(bad), OcctlOutputError, bad.slice(0, 40));
    }
  });

  test("names occtl's JSON garbles (each byte of a non-ASCII character is \\u00ff) are read from the text of show id", () => {
    // What ocserv 1.1.6's occtl printed for the users jürgen and jörgen (group straße), JSON then text.
    const json = occtlUsersJson(
      { id: 7385, user: 'j\u00ff\u00ffrgen' },
      { id: 7402, user: 'j\u00ff\u00ffrgen', group: 'stra\u00ff\u00ffe', safeId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
    );
    const [jurgen, jorgen] = parseUsers(json);
    assert.equal(jurgen!.userName, jorgen!.userName, 'the JSON alone cannot tell them apart');
    const text = (id: number, name: string, group: string) =>
      `\tID: ${id}\n\tUsername: ${name}   Groupname: ${group}\n\tState: connected\n\tvhost: default\n`;
    assert.deepEqual(
      [
        namesFromText(text(7385, 'jürgen', '(none)'), jurgen!),
        namesFromText(text(7402, 'jörgen', 'straße'), jorgen!),
      ].map((u) => [u.id, u.userName, u.groupName]),
      [
        [7385, 'jürgen', null],
        [7402, 'jörgen', 'straße'],
      ],
    );
    assert.equal(asOcctlJsonText('jürgen €'), 'j\u00ff\u00ffrgen \u00ff\u00ff\u00ff');
    // A name holding the text's own separator still splits one way only.
    const odd = parseUsers(occtlUsersJson({ id: 9, user: 'x\u00ff\u00ff   Groupname: y' }))[0]!;
    assert.equal(namesFromText(text(9, 'xé   Groupname: y', '(none)'), odd).userName, 'xé   Groupname: y');
    for (const [bad, row] of [
      [text(7385, 'jürgen', '(none)'), jorgen!], // another worker under the id by now
      [text(7402, 'jürgen', '(none)'), jorgen!], // another group
      [text(7402, 'jxrgen', 'straße'), jorgen!], // not the JSON's name
      ['\tID: 7402\n', jorgen!],
    ] as const)
      assert.throws(() => namesFromText(bad, row), OcctlOutputError);
  });

  test("show status gives the instance's pid and exact start", () => {
    const text =
      '  {\n    "Status":  "online",\n    "Server PID":  15583,\n    "Sec-mod PID":  15586,\n    "Up since":  "2026-12-06 10:03",\n    "raw_up_since":  1796551381,\n    "uptime":  0\n  }\n';
    assert.deepEqual(parseStatus(text), { serverPid: 15583, startedAt: 1_796_551_381_000 });
    assert.throws(() => parseStatus('{"Status":"offline"}'), OcctlOutputError);
  });

  test('ages as occtl prints them, and how exact each is', () => {
    assert.deepEqual(parseAge('    0s'), { seconds: 0, precision: 1 });
    assert.deepEqual(parseAge('   59s'), { seconds: 59, precision: 1 });
    assert.deepEqual(parseAge(' 5m:03s'), { seconds: 303, precision: 1 });
    assert.deepEqual(parseAge(' 2h:07m'), { seconds: 7620, precision: 60 });
    assert.deepEqual(parseAge(' 3days'), { seconds: 259_200, precision: 86_400 });
    assert.equal(parseAge('   ?   '), null);
  });

  test('the connect time: from the age below an hour, else from the local minute', () => {
    const now = new Date(2026, 11, 6, 12, 30, 15).getTime();
    assert.equal(connectedAtOf(' 5m:03s', '2026-12-06 12:25', now), now - 303_000);
    assert.equal(connectedAtOf(' 2h:07m', '2026-12-06 10:23', now), new Date(2026, 11, 6, 10, 23).getTime());
    assert.equal(connectedAtOf(' 2h:07m', 'garbage', now), now - 7_620_000);
    assert.equal(connectedAtOf(undefined, undefined, now), now);
  });

  test('event lines: connects and disconnects with their reason; everything else ignored', () => {
    assert.deepEqual(parseEventLine("default: connected user 'user2' (15601) from 127.0.0.1 with IP 10.93.0.249"), {
      kind: 'connected',
      userName: 'user2',
      id: 15601,
    });
    assert.deepEqual(
      parseEventLine(
        "default: disconnect user 'user1' (15603) from 127.0.0.1 with IP 10.93.0.15 (reason: server disconnected, time:     2s)",
      ),
      { kind: 'disconnected', userName: 'user1', id: 15603, reason: 'server disconnected' },
    );
    assert.deepEqual(parseEventLine("default: connected user 'o'brien x' (7) from ::1 with IP "), {
      kind: 'connected',
      userName: "o'brien x",
      id: 7,
    });
    for (const other of [
      '',
      "Press 'q' or CTRL+C to quit",
      '      id     user    vhost             ip         vpn-ip device   since    dtls-cipher    status',
      '   24394    user3  default      127.0.0.1     10.93.0.60  vpns2     0s  (AES-256-GCM) connected',
      `x: connected user 'a' (1) from b with IP c${' '.repeat(3000)}`,
    ]) {
      assert.equal(parseEventLine(other), null, other.slice(0, 40));
    }
  });
});
