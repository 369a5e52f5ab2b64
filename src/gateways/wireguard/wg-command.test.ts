import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayUnavailableError } from '../adapter.js';
import { parseDump, withoutKeys } from './wg-command.js';

const PRIVATE = 'wGTU5/2UMEW5zEwwE1iD1/yHYhsdINY81hr4KQHl1Fg=';
const SERVER = 'U55Gy/+wEntVz302h9cWZCTkfIdHUx4wok1Y4xvutQE=';
const PEER1 = 'MQEgyhCIdh1riLH5MckkKBq63hc52cYsukh0xBE2QQA=';
const PSK = 'w5rTDxUB6j4+ISJ3FnCeQVh2Q9prwCSQ44Z1uJR0iHY=';
const PEER2 = 'hb5slVnCUNTMZcoI8XI8DlAxhPamZOa1d+dxF9FxMAs=';

// `wg show wgs0 dump` against wireguard-go 0.0.20220316 (wireguard-tools v1.0.20210914).
const DUMP = [
  [PRIVATE, SERVER, '51820', 'off'],
  [PEER1, PSK, '10.78.1.2:44101', '10.77.0.2/32,fd00::2/128', '1796554992', '1332', '860', '25'],
  [PEER2, '(none)', '(none)', '(none)', '0', '0', '0', 'off'],
]
  .map((f) => `${f.join('\t')}\n`)
  .join('');

test('wg show dump: peers with their keys, handshake in ms, counters, allowed IPs; the private key is not kept', () => {
  const device = parseDump(DUMP, 'wg show wgs0 dump');
  assert.equal(device.listenPort, 51820);
  assert.deepEqual(device.peers, [
    {
      publicKey: PEER1,
      presharedKey: PSK,
      endpoint: '10.78.1.2:44101',
      allowedIps: ['10.77.0.2/32', 'fd00::2/128'],
      persistentKeepalive: 25,
      lastHandshakeAt: 1796554992000,
      rxBytes: 1332,
      txBytes: 860,
    },
    {
      publicKey: PEER2,
      presharedKey: null,
      endpoint: null,
      allowedIps: [],
      persistentKeepalive: 0,
      lastHandshakeAt: 0,
      rxBytes: 0,
      txBytes: 0,
    },
  ]);
  assert.ok(!JSON.stringify(device).includes(PRIVATE), 'no private key');
});

test('wg show dump: an interface without peers is an empty list; a reply of another shape is an error, never an empty list', () => {
  assert.deepEqual(parseDump(`(none)\t(none)\t0\toff\n`, 'wg').peers, []);
  const broken = [
    '',
    'Unable to access interface: No such device\n',
    DUMP.replace('1796554992', 'soon'),
    DUMP.replace(PEER2, 'not-a-key'),
    DUMP.replace('10.77.0.2/32', '10.77.0.2'),
    DUMP.replace(`\t25\n`, `\t25\textra\n`),
    DUMP.replace(`${PSK}\t`, ''),
  ];
  for (const text of broken) {
    assert.throws(
      () => parseDump(text, 'wg show wgs0 dump'),
      (e: unknown) => {
        assert.ok(e instanceof GatewayUnavailableError, String(e));
        assert.ok(!e.message.includes(PSK) && !e.message.includes(PRIVATE), `no secret in: ${e.message}`);
        return true;
      },
      JSON.stringify(text.slice(0, 80)),
    );
  }
});

test("wg's messages lose anything shaped like a key", () => {
  assert.equal(
    withoutKeys(`Key is not the correct length or format: \`${PSK}'`),
    "Key is not the correct length or format: `<key>'",
  );
  assert.equal(withoutKeys(`x ${'ab'.repeat(32)} y`), 'x <key> y');
});
