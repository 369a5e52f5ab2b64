/**
 * Fuzzing the VICI codec: any message we can build survives encode → split into arbitrary chunks →
 * decode unchanged, and any byte string fed to the decoder either decodes or throws ViciProtocolError
 * (never another error, never a hang), so a broken or hostile socket cannot crash the agent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodePacket,
  encodePacket,
  ViciFrameReader,
  ViciProtocolError,
  type ViciMessage,
  type ViciPacket,
} from './vici-codec.js';

const name = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).filter((s) => Buffer.byteLength(s) <= 255);
const text = fc.string({ maxLength: 60, unit: 'binary' });
const { message } = fc.letrec<{ message: ViciMessage; value: ViciMessage[string] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, text, fc.array(text, { maxLength: 4 }), tie('message')),
  message: fc
    .dictionary(name, tie('value'), { maxKeys: 5 })
    .map((d) => Object.assign(Object.create(null) as ViciMessage, d)),
}));
const packet: fc.Arbitrary<ViciPacket> = fc.oneof(
  fc.record({ type: fc.constant('CMD_REQUEST' as const), name, message }),
  fc.record({ type: fc.constant('CMD_RESPONSE' as const), message }),
  fc.record({ type: fc.constant('EVENT' as const), name, message }),
  fc.record({ type: fc.constant('EVENT_REGISTER' as const), name }),
  fc.constantFrom<ViciPacket>({ type: 'CMD_UNKNOWN' }, { type: 'EVENT_CONFIRM' }, { type: 'EVENT_UNKNOWN' }),
);
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

test('encode then decode (through arbitrarily split chunks) gives back every packet', () => {
  fc.assert(
    fc.property(
      fc.array(packet, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (packets, cuts) => {
        const stream = Buffer.concat(packets.map(encodePacket));
        const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
        const reader = new ViciFrameReader();
        const got: ViciPacket[] = [];
        let from = 0;
        for (const p of [...points, stream.length]) {
          got.push(...reader.push(stream.subarray(from, p)));
          from = p;
        }
        assert.deepEqual(plain(got), plain(packets));
      },
    ),
    { numRuns: 300 },
  );
});

test('arbitrary bytes decode or throw ViciProtocolError, nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
      try {
        decodePacket(Buffer.from(bytes));
      } catch (e) {
        if (!(e instanceof ViciProtocolError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
});

test('a valid packet with one byte flipped decodes or throws ViciProtocolError', () => {
  fc.assert(
    fc.property(packet, fc.nat(), fc.integer({ min: 1, max: 255 }), (p, at, xor) => {
      const body = encodePacket(p).subarray(4);
      body[at % body.length] = (body[at % body.length] ?? 0) ^ xor;
      try {
        decodePacket(body);
      } catch (e) {
        if (!(e instanceof ViciProtocolError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
