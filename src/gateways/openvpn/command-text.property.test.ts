/**
 * Property tests of the command lines we write to the management interface: whatever a caller puts
 * in a disconnect message or a deny reason, the command stays one line, its quoted argument reads
 * back (as the daemon's config-line parser reads it) to exactly the text we meant, and fits the
 * daemon's 256-character argument limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientDenyCommand, clientKillCommand, killMessage } from './command-text.js';

/** The daemon's reading of a command line: whitespace-separated, `"…"` groups, `\\` escapes `"` and `\\`. */
function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let token = '';
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        token += line[i++];
      }
      assert.equal(line[i], '"', `unterminated quote in ${JSON.stringify(line)}`);
      i++;
    } else {
      while (i < line.length && line[i] !== ' ') token += line[i++];
    }
    out.push(token);
  }
  return out;
}

/** True when `text` holds a C0 control character or DEL. */
const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const hostile = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc
    .array(
      fc.constantFrom(
        '"',
        '\\',
        '\n',
        '\r',
        '\t',
        '\u0000',
        ',',
        ' ',
        'HALT',
        '\nclient-kill 0 HALT\n',
        'é',
        '🙂',
        '\u007f',
      ),
      { maxLength: 80 },
    )
    .map((p) => p.join('')),
);

test('client-kill: one line, three arguments, the message reads back as MODE,text, at most 240 bytes', () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.constantFrom('HALT', 'RESTART') as fc.Arbitrary<'HALT' | 'RESTART'>,
      fc.option(hostile),
      (cid, mode, message) => {
        const line = clientKillCommand(cid, mode, message);
        assert.ok(!/[\r\n\0]/.test(line), 'one line, no NUL');
        const args = tokenize(line);
        assert.equal(args.length, 3, JSON.stringify(line));
        assert.deepEqual(args.slice(0, 2), ['client-kill', String(cid)]);
        assert.equal(args[2], killMessage(mode, message));
        assert.ok(Buffer.byteLength(args[2]!) <= 240);
        assert.ok(args[2] === mode || args[2]!.startsWith(`${mode},`));
        assert.ok(!hasControl(args[2]!), 'no control character reaches the client');
      },
    ),
    { numRuns: 1000 },
  );
});

test('client-deny: one line, five arguments, both reasons free of control characters and within the limit', () => {
  fc.assert(
    fc.property(fc.nat(), fc.nat(), hostile, hostile, (cid, kid, reason, clientReason) => {
      const line = clientDenyCommand(cid, kid, reason, clientReason);
      assert.ok(!/[\r\n\0]/.test(line));
      const args = tokenize(line);
      assert.equal(args.length, 5, JSON.stringify(line));
      assert.deepEqual(args.slice(0, 3), ['client-deny', String(cid), String(kid)]);
      for (const a of args.slice(3)) {
        assert.ok(Buffer.byteLength(a) <= 240);
        assert.ok(!hasControl(a));
      }
    }),
    { numRuns: 1000 },
  );
});
