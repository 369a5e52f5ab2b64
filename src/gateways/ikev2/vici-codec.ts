/**
 * The VICI wire format (strongSwan's `src/libcharon/plugins/vici/README.md`), encoded and decoded by
 * hand: no maintained npm package speaks it, and the format is small. Every frame is a 32-bit
 * big-endian length and a packet; a packet is a type byte, for named types a name (8-bit length), and
 * for some types a message. A message is a flat run of elements: section start (named), section end,
 * key-value (named, 16-bit value length), list start (named), list item (16-bit length), list end.
 *
 * Decoding never trusts the peer: anything malformed throws `ViciProtocolError` (and only that), and
 * decoded objects have no prototype, so a key named `__proto__` is just a key.
 */

/** A decoded value: a key-value is text, a list is texts, a section is a nested message. */
export type ViciValue = string | string[] | ViciMessage;
export interface ViciMessage {
  [key: string]: ViciValue;
}

export type ViciPacket =
  | { type: 'CMD_REQUEST'; name: string; message: ViciMessage }
  | { type: 'CMD_RESPONSE'; message: ViciMessage }
  | { type: 'CMD_UNKNOWN' }
  | { type: 'EVENT_REGISTER'; name: string }
  | { type: 'EVENT_UNREGISTER'; name: string }
  | { type: 'EVENT_CONFIRM' }
  | { type: 'EVENT_UNKNOWN' }
  | { type: 'EVENT'; name: string; message: ViciMessage };

/** charon refuses frames above 512 KiB (`VICI_MESSAGE_SIZE_MAX`); so do we. */
export const VICI_MAX_FRAME = 512 * 1024;
/** Sections nest a few levels deep in practice (list-sa: conn > child-sas > child); this bounds recursion. */
const MAX_DEPTH = 32;

const PACKET_TYPES = [
  'CMD_REQUEST',
  'CMD_RESPONSE',
  'CMD_UNKNOWN',
  'EVENT_REGISTER',
  'EVENT_UNREGISTER',
  'EVENT_CONFIRM',
  'EVENT_UNKNOWN',
  'EVENT',
] as const;
const NAMED = new Set<ViciPacket['type']>(['CMD_REQUEST', 'EVENT_REGISTER', 'EVENT_UNREGISTER', 'EVENT']);
const WITH_MESSAGE = new Set<ViciPacket['type']>(['CMD_REQUEST', 'CMD_RESPONSE', 'EVENT']);

const SECTION_START = 1;
const SECTION_END = 2;
const KEY_VALUE = 3;
const LIST_START = 4;
const LIST_ITEM = 5;
const LIST_END = 6;

export class ViciProtocolError extends Error {
  constructor(message: string) {
    super(`VICI: ${message}`);
    this.name = 'ViciProtocolError';
  }
}

export function emptyMessage(): ViciMessage {
  return Object.create(null) as ViciMessage;
}

/** One packet as a frame (length prefix included), ready to write. */
export function encodePacket(packet: ViciPacket): Buffer {
  const parts: Buffer[] = [Buffer.from([PACKET_TYPES.indexOf(packet.type)])];
  if ('name' in packet) parts.push(name8(packet.name));
  if ('message' in packet) encodeMessage(packet.message, parts, 0);
  const body = Buffer.concat(parts);
  if (body.length > VICI_MAX_FRAME)
    throw new ViciProtocolError(`packet of ${body.length} bytes exceeds ${VICI_MAX_FRAME}`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function encodeMessage(message: ViciMessage, out: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new ViciProtocolError('sections nested too deeply');
  for (const [key, value] of Object.entries(message)) {
    if (typeof value === 'string') {
      out.push(Buffer.from([KEY_VALUE]), name8(key), value16(value));
    } else if (Array.isArray(value)) {
      out.push(Buffer.from([LIST_START]), name8(key));
      for (const item of value) out.push(Buffer.from([LIST_ITEM]), value16(item));
      out.push(Buffer.from([LIST_END]));
    } else {
      out.push(Buffer.from([SECTION_START]), name8(key));
      encodeMessage(value, out, depth + 1);
      out.push(Buffer.from([SECTION_END]));
    }
  }
}

function name8(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length > 255)
    throw new ViciProtocolError(`a name must be 1-255 bytes (got ${bytes.length})`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function value16(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > 0xffff) throw new ViciProtocolError(`a value must be at most 65535 bytes (got ${bytes.length})`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bytes.length);
  return Buffer.concat([head, bytes]);
}

/** Decodes one packet body (a frame without its length prefix). */
export function decodePacket(body: Buffer): ViciPacket {
  const r = new Reader(body);
  const typeByte = r.u8('packet type');
  const type = PACKET_TYPES[typeByte];
  if (type === undefined) throw new ViciProtocolError(`unknown packet type ${typeByte}`);
  const name = NAMED.has(type) ? r.name() : undefined;
  const message = WITH_MESSAGE.has(type) ? decodeMessage(r) : undefined;
  if (!r.done()) throw new ViciProtocolError(`${r.left()} stray bytes after a ${type} packet`);
  return { type, ...(name !== undefined ? { name } : {}), ...(message ? { message } : {}) } as ViciPacket;
}

function decodeMessage(r: Reader): ViciMessage {
  const root = emptyMessage();
  const stack: ViciMessage[] = [root];
  while (!r.done()) {
    const top = stack[stack.length - 1]!;
    const element = r.u8('element type');
    if (element === SECTION_START) {
      if (stack.length > MAX_DEPTH) throw new ViciProtocolError('sections nested too deeply');
      const section = emptyMessage();
      top[r.name()] = section;
      stack.push(section);
    } else if (element === SECTION_END) {
      if (stack.length === 1) throw new ViciProtocolError('section end without a section');
      stack.pop();
    } else if (element === KEY_VALUE) {
      const key = r.name();
      top[key] = r.value();
    } else if (element === LIST_START) {
      const key = r.name();
      const items: string[] = [];
      for (;;) {
        const next = r.u8('list element');
        if (next === LIST_END) break;
        if (next !== LIST_ITEM) throw new ViciProtocolError(`element ${next} inside a list`);
        items.push(r.value());
      }
      top[key] = items;
    } else {
      throw new ViciProtocolError(`unknown or misplaced element type ${element}`);
    }
  }
  if (stack.length !== 1) throw new ViciProtocolError(`${stack.length - 1} section(s) not closed`);
  return root;
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  done(): boolean {
    return this.at >= this.buf.length;
  }
  left(): number {
    return this.buf.length - this.at;
  }
  u8(what: string): number {
    if (this.at >= this.buf.length) throw new ViciProtocolError(`truncated before the ${what}`);
    return this.buf[this.at++]!;
  }
  name(): string {
    const len = this.u8('name length');
    if (len === 0) throw new ViciProtocolError('empty name');
    return this.text(len, 'name');
  }
  value(): string {
    if (this.left() < 2) throw new ViciProtocolError('truncated before a value length');
    const len = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return this.text(len, 'value');
  }
  private text(len: number, what: string): string {
    if (this.left() < len)
      throw new ViciProtocolError(`truncated ${what} (${len} bytes announced, ${this.left()} left)`);
    const s = this.buf.toString('utf8', this.at, this.at + len);
    this.at += len;
    return s;
  }
}

/**
 * Splits a byte stream into packet bodies. `push` returns the complete packets so far; a frame that
 * announces more than `VICI_MAX_FRAME` throws before anything is buffered for it.
 */
export class ViciFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ViciPacket[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const packets: ViciPacket[] = [];
    for (;;) {
      if (this.pending.length < 4) break;
      const len = this.pending.readUInt32BE(0);
      if (len > VICI_MAX_FRAME) throw new ViciProtocolError(`frame of ${len} bytes exceeds ${VICI_MAX_FRAME}`);
      if (len === 0) throw new ViciProtocolError('empty frame');
      if (this.pending.length < 4 + len) break;
      packets.push(decodePacket(this.pending.subarray(4, 4 + len)));
      this.pending = this.pending.subarray(4 + len);
    }
    return packets;
  }
}
