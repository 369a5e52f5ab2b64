import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket, encodePacket, ViciFrameReader, ViciProtocolError, VICI_MAX_FRAME } from './vici-codec.js';

// The example message of strongSwan's VICI README, byte for byte.
const README_EXAMPLE = Buffer.from(
  '03046b65793100067661 6c756531 0108736563 74696f6e31 010b7375622d73656374696f6e 03046b6579320006 76616c756532 02 04056c69737431 050005 6974656d31 050005 6974656d32 06 02'.replace(
    / /g,
    '',
  ),
  'hex',
);

test('decodes the README example message', () => {
  const p = decodePacket(Buffer.concat([Buffer.from([1]), README_EXAMPLE]));
  assert.equal(p.type, 'CMD_RESPONSE');
  assert.deepEqual(JSON.parse(JSON.stringify(p.type === 'CMD_RESPONSE' ? p.message : null)), {
    key1: 'value1',
    section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] },
  });
});

test('encodes a named request exactly as charon expects it', () => {
  const frame = encodePacket({
    type: 'CMD_REQUEST',
    name: 'terminate',
    message: Object.assign(Object.create(null), { 'ike-id': '7' }),
  });
  assert.equal(
    frame.toString('hex'),
    '00000016' +
      '00' +
      '09' +
      Buffer.from('terminate').toString('hex') +
      '03' +
      '06' +
      Buffer.from('ike-id').toString('hex') +
      '0001' +
      '37',
  );
  assert.deepEqual(
    encodePacket({ type: 'EVENT_REGISTER', name: 'ike-updown' }).toString('hex'),
    '0000000c030a' + Buffer.from('ike-updown').toString('hex'),
  );
});

test('packets without a name or message', () => {
  for (const type of ['CMD_UNKNOWN', 'EVENT_CONFIRM', 'EVENT_UNKNOWN'] as const) {
    assert.deepEqual(decodePacket(encodePacket({ type }).subarray(4)), { type });
  }
});

test('a key named __proto__ is only a key', () => {
  const p = decodePacket(Buffer.from('0103095f5f70726f746f5f5f000178', 'hex'));
  assert.ok(p.type === 'CMD_RESPONSE');
  assert.equal(Object.getPrototypeOf(p.message), null);
  assert.equal(p.message['__proto__'], 'x');
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('malformed input is refused with a ViciProtocolError', () => {
  const bad = [
    '08',
    '01 02',
    '01 01 03 616263',
    '01 03 03 6b6579 0005 6162',
    '01 04 01 6c 05 0001',
    '01 04 01 6c 03',
    '00',
    '00 05 616263',
    '07 01 65 09',
    '05 00',
  ];
  for (const hex of bad)
    assert.throws(() => decodePacket(Buffer.from(hex.replace(/ /g, ''), 'hex')), ViciProtocolError, hex);
});

test('the frame reader reassembles split frames and refuses oversized ones', () => {
  const frames = Buffer.concat([
    encodePacket({ type: 'EVENT_CONFIRM' }),
    encodePacket({ type: 'EVENT', name: 'ike-updown', message: Object.assign(Object.create(null), { up: 'yes' }) }),
  ]);
  const r = new ViciFrameReader();
  const got = [...frames].flatMap((b) => r.push(Buffer.from([b])));
  assert.deepEqual(
    got.map((p) => p.type),
    ['EVENT_CONFIRM', 'EVENT'],
  );
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(VICI_MAX_FRAME + 1);
  assert.throws(() => new ViciFrameReader().push(huge), ViciProtocolError);
});
