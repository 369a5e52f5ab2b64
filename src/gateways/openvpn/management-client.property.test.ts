/**
 * Property tests of the management client's line handling over a real socket: random command replies
 * (one-line and multi-line) with random notifications interleaved between their lines, CR LF or LF
 * endings, hostile field values (tabs, commas, `=`, `>`, words such as END, non-ASCII split inside a
 * character), and the whole stream cut at arbitrary byte boundaries. Every command must get exactly
 * its reply, every notification must arrive once, in order, parsed, and no password may survive.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { waitFor } from '../../../test/support/wait.js';
import { silentLogger } from '../../domain/logger.js';
import { ManagementClient, type CommandReply } from './management-client.js';
import type { Notification } from './notification-parser.js';

const BANNER = ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n";

/** One segment the daemon writes after receiving one command: lines, then the cut points of its bytes. */
interface Segment {
  command: string;
  multiline: boolean;
  reply: CommandReply;
  lines: string[];
  cuts: number[];
  crlf: boolean;
}

// ── generators ───────────────────────────────────────────────────────────────────────────────────────

/** A value that fits on one line: anything but CR and LF. */
const lineText = (maxLength = 30) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          '\t',
          ',',
          '=',
          '>',
          ':',
          ' ',
          '"',
          'END',
          'SUCCESS:',
          'ERROR:',
          '>CLIENT:ENV,END',
          'é',
          '名',
          '🙂',
        ),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: maxLength / 3 },
    )
    .map((p) => p.join('').replace(/[\r\n]/g, ' '));

const cid = fc.nat(100_000);

/** A notification block as the daemon sends it, with the notification the client must deliver. */
const notification: fc.Arbitrary<{ lines: string[]; expect: Notification | null }> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('CONNECT', 'REAUTH', 'ESTABLISHED', 'DISCONNECT') as fc.Arbitrary<
        'CONNECT' | 'REAUTH' | 'ESTABLISHED' | 'DISCONNECT'
      >,
      cid,
      fc.nat(7),
      fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/), lineText()), {
        selector: ([k]) => k,
        maxLength: 8,
      }),
      lineText(),
    )
    .map(([event, c, kid, env, password]) => {
      const withKid = event === 'CONNECT' || event === 'REAUTH';
      const lines = [`>CLIENT:${event},${c}${withKid ? `,${kid}` : ''}`];
      const kept: Record<string, string> = {};
      for (const [k, v] of env) {
        if (k === 'password') continue;
        lines.push(`>CLIENT:ENV,${k}=${v}`);
        kept[k] = v;
      }
      lines.splice(1 + Math.min(env.length, 2), 0, `>CLIENT:ENV,password=Ⓟⓦ${password}`);
      lines.push('>CLIENT:ENV,END');
      return { lines, expect: { kind: 'client', event, cid: c, kid: withKid ? kid : null, env: kept } as Notification };
    }),
  fc.tuple(cid, fc.tuple(fc.nat(255), fc.nat(255)), fc.boolean()).map(([c, [a, b], primary]) => ({
    lines: [`>CLIENT:ADDRESS,${c},10.8.${a}.${b},${primary ? 1 : 0}`],
    expect: { kind: 'client-address', cid: c, address: `10.8.${a}.${b}`, primary } as Notification,
  })),
  fc
    .tuple(
      fc.integer({ min: 1, max: 2_000_000_000 }),
      fc.constantFrom('CONNECTED', 'RECONNECTING', 'EXITING'),
      lineText(),
    )
    .map(([t, name, detail]) => {
      const d = detail.replace(/,/g, ';');
      return {
        lines: [`>STATE:${t},${name},${d},10.8.0.1,,,`],
        expect: { kind: 'state', state: { time: t, name, detail: d } } as Notification,
      };
    }),
  fc.tuple(fc.constantFrom('LOG', 'BYTECOUNT_CLI', 'HOLD', 'INFO', 'NOTIFY'), lineText()).map(([source, text]) => ({
    lines: [`>${source}:${text}`],
    expect: { kind: 'other', source, text } as Notification,
  })),
);

/** A reply line of a multi-line reply: never `END`, never starts with `>`, SUCCESS: or ERROR:. */
const bodyLine = lineText(60).filter((l) => l !== 'END' && !l.startsWith('>') && !/^(SUCCESS|ERROR):/.test(l));

const segment: fc.Arbitrary<Omit<Segment, 'cuts' | 'lines'> & { body: string[] }> = fc.oneof(
  fc.tuple(cid, fc.boolean(), fc.boolean()).map(([c, ok, crlf]) => ({
    command: `client-kill ${c} HALT`,
    multiline: false,
    crlf,
    body: [ok ? 'SUCCESS: client-kill command succeeded' : 'ERROR: client-kill command failed'],
    reply: { ok, message: ok ? 'client-kill command succeeded' : 'client-kill command failed', lines: [] },
  })),
  fc.tuple(fc.array(bodyLine, { maxLength: 12 }), fc.boolean()).map(([lines, crlf]) => ({
    command: 'status 3',
    multiline: true,
    crlf,
    body: [...lines, 'END'],
    reply: { ok: true, message: '', lines },
  })),
);

/** A segment with notifications put between its lines, and its bytes cut at random places. */
const script = fc.array(
  fc
    .tuple(segment, fc.array(fc.tuple(fc.nat(), notification), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }))
    .map(([seg, notes, cutSeeds]) => {
      const lines = [...seg.body];
      const expected: Notification[] = [];
      // Insert from the last position backwards so that earlier indexes stay valid; the order of the
      // notifications is the order they end up in the stream.
      const placed = notes.map(([seed, n]) => ({ at: seed % lines.length, n }));
      placed.sort((a, b) => a.at - b.at);
      for (let i = placed.length - 1; i >= 0; i--) lines.splice(placed[i]!.at, 0, ...placed[i]!.n.lines);
      for (const p of placed) if (p.n.expect) expected.push(p.n.expect);
      const bytes = Buffer.byteLength(lines.map((l) => `${l}${seg.crlf ? '\r\n' : '\n'}`).join(''));
      const cuts = [...new Set(cutSeeds.map((s) => 1 + (s % Math.max(1, bytes - 1))))].sort((a, b) => a - b);
      return { segment: { ...seg, lines, cuts } as Segment, expected };
    }),
  { minLength: 1, maxLength: 6 },
);

// ── the stand-in daemon and the client under test ────────────────────────────────────────────────────

const dir = mkdtempSync(join(tmpdir(), 'sb-mcp-'));
let server: Server;
let client: ManagementClient;
let queue: Segment[] = [];
const received: Notification[] = [];
const commandsSeen: string[] = [];

async function writeSegment(socket: Socket, seg: Segment): Promise<void> {
  const bytes = Buffer.from(seg.lines.map((l) => `${l}${seg.crlf ? '\r\n' : '\n'}`).join(''));
  let from = 0;
  for (const cut of [...seg.cuts, bytes.length]) {
    if (cut <= from) continue;
    socket.write(bytes.subarray(from, cut));
    from = cut;
    // Give the bytes a chance to travel alone, so that the client sees the cut.
    await new Promise((r) => setImmediate(r));
  }
}

before(async () => {
  const path = join(dir, 'daemon.sock');
  server = createServer((s) => {
    s.on('error', () => {});
    let buf = '';
    let chain = Promise.resolve();
    s.on('data', (d) => {
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        commandsSeen.push(line);
        const seg = queue.shift();
        if (seg) chain = chain.then(() => writeSegment(s, seg));
      }
    });
    s.write(BANNER);
  });
  await new Promise<void>((r) => server.listen(path, r));
  let ready!: () => void;
  const up = new Promise<void>((r) => (ready = r));
  client = new ManagementClient(
    { address: `unix:${path}`, logger: silentLogger },
    { onReady: () => ready(), onDown: () => {}, onNotification: (n) => received.push(n) },
  );
  client.start();
  await up;
});

after(async () => {
  await client.stop();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('any interleaving of replies and notifications, cut anywhere: each command gets its reply, each notification arrives once, in order', async () => {
  await fc.assert(
    fc.asyncProperty(script, async (steps) => {
      received.length = 0;
      commandsSeen.length = 0;
      queue = steps.map((s) => s.segment);
      // All commands at once: the client must send each only after the previous reply is complete.
      const replies = await Promise.all(
        steps.map((s) => client.command(s.segment.command, { timeoutMs: 5000, multiline: s.segment.multiline })),
      );
      assert.deepEqual(
        replies,
        steps.map((s) => s.segment.reply),
      );
      assert.deepEqual(
        commandsSeen,
        steps.map((s) => s.segment.command),
      );
      const expected = steps.flatMap((s) => s.expected);
      await waitFor(() => received.length >= expected.length, 400, 'the notifications', 2).catch(() => {}); // the assertion names what is missing
      assert.deepEqual(received, expected);
      assert.ok(
        !JSON.stringify(received).includes('Ⓟⓦ') &&
          received.every((n) => n.kind !== 'client' || !('password' in n.env)),
        'no password survives parsing',
      );
      assert.ok(client.connected, 'the link stayed up');
    }),
    { numRuns: 150 },
  );
});
