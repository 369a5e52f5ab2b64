/**
 * The command queue's pipelining rules with a scripted io: replies matched first in, first out, the
 * in-flight bound, multi-line commands as barriers, deadlines before and after the write, the stuck
 * watchdog. The real daemon taking pipelined commands is in openvpn-adapter-pipelining.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayUnavailableError } from '../adapter.js';
import { CommandQueue, type CommandReply } from './command-queue.js';

function queue(options: { maxInFlight?: number; stuckAfterMs?: number } = {}) {
  const written: string[] = [];
  const stuck: string[] = [];
  const q = new CommandQueue({
    write: (text) => void written.push(text),
    onStuck: (text) => void stuck.push(text),
    stuckAfterMs: options.stuckAfterMs ?? 60_000,
    maxInFlight: options.maxInFlight,
  });
  const feed = (...lines: string[]) => lines.forEach((l) => q.onReplyLine(l));
  return { q, written, stuck, feed };
}

/** Settles `p` into a value to compare: the reply, or the error's class name. */
async function outcome(p: Promise<CommandReply>): Promise<CommandReply | string> {
  return p.then(
    (r) => r,
    (e: unknown) => (e instanceof Error ? e.constructor.name : String(e)),
  );
}

/** Whether a rejected command may still take effect (it was written), or 'resolved'. */
async function effect(p: Promise<CommandReply>): Promise<boolean | string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof GatewayUnavailableError ? e.mayTakeEffect : String(e)),
  );
}

/** The queue's deadlines and stuck watch run on mocked timers: `t.mock.timers.tick(ms)` moves them exactly. */
function mockTimers(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return (ms) => t.mock.timers.tick(ms);
}

const ok = (message: string): CommandReply => ({ ok: true, message, lines: [] });
const err = (message: string): CommandReply => ({ ok: false, message, lines: [] });

test('single-line commands are all written at once; replies are matched in order, an ERROR to its own command only', async () => {
  const { q, written, feed } = queue();
  const replies = [1, 2, 3, 4].map((cid) => outcome(q.enqueue(`client-kill ${cid}`, 1000, false)));
  assert.deepEqual(written, ['client-kill 1', 'client-kill 2', 'client-kill 3', 'client-kill 4']);
  feed('SUCCESS: one', 'SUCCESS: two', 'ERROR: client-kill command failed', 'SUCCESS: four');
  assert.deepEqual(await Promise.all(replies), [ok('one'), ok('two'), err('client-kill command failed'), ok('four')]);
});

test('no more than maxInFlight are written and unanswered; the rest follow as replies come', async () => {
  const { q, written, feed } = queue({ maxInFlight: 2 });
  const replies = ['a', 'b', 'c', 'd', 'e'].map((x) => outcome(q.enqueue(x, 1000, false)));
  assert.deepEqual(written, ['a', 'b']);
  feed('SUCCESS: a');
  assert.deepEqual(written, ['a', 'b', 'c']);
  feed('SUCCESS: b', 'SUCCESS: c');
  assert.deepEqual(written, ['a', 'b', 'c', 'd', 'e']);
  feed('SUCCESS: d', 'SUCCESS: e');
  assert.deepEqual(
    await Promise.all(replies),
    ['a', 'b', 'c', 'd', 'e'].map((x) => ok(x)),
  );
});

test('a multi-line command waits for the link to be idle and holds back everything behind it', async () => {
  const { q, written, feed } = queue();
  const first = outcome(q.enqueue('client-kill 1', 1000, false));
  const status = outcome(q.enqueue('status 3', 1000, true));
  const behind = outcome(q.enqueue('client-kill 2', 1000, false)); // not overtaking the barrier: order is kept
  assert.deepEqual(written, ['client-kill 1']);
  feed('SUCCESS: 1');
  assert.deepEqual(written, ['client-kill 1', 'status 3']);
  feed('TITLE\tx', 'CLIENT_LIST\tSUCCESS: not a reply\t7');
  assert.deepEqual(written, ['client-kill 1', 'status 3']);
  feed('END');
  assert.deepEqual(written, ['client-kill 1', 'status 3', 'client-kill 2']);
  // A multi-line command answered with one ERROR line.
  const state = outcome(q.enqueue('state', 1000, true));
  feed('SUCCESS: 2', 'ERROR: not now');
  assert.deepEqual(await Promise.all([first, status, behind, state]), [
    ok('1'),
    { ok: true, message: '', lines: ['TITLE\tx', 'CLIENT_LIST\tSUCCESS: not a reply\t7'] },
    ok('2'),
    err('not now'),
  ]);
});

test('a command that times out before it is written is never written; those behind it go on', async (t) => {
  const tick = mockTimers(t);
  const { q, written, feed } = queue();
  const head = outcome(q.enqueue('client-kill 1', 1000, false));
  const barrier = effect(q.enqueue('status 3', 20, true));
  const kill = effect(q.enqueue('client-kill 2', 10, false)); // behind the barrier: unsent, expires first
  const later = outcome(q.enqueue('client-kill 3', 1000, false));
  tick(10);
  assert.deepEqual(written, ['client-kill 1'], 'client-kill 2 expired; the barrier still holds client-kill 3 back');
  tick(10);
  assert.equal(await barrier, false, 'never written: cannot take effect');
  assert.equal(await kill, false, 'never written: cannot take effect');
  assert.deepEqual(written, ['client-kill 1', 'client-kill 3']);
  feed('SUCCESS: 1', 'SUCCESS: 3');
  assert.deepEqual(await Promise.all([head, later]), [ok('1'), ok('3')]);
  assert.deepEqual(written, ['client-kill 1', 'client-kill 3']);
});

test('a command that times out after it was written still consumes its late reply', async (t) => {
  const tick = mockTimers(t);
  const { q, written, feed } = queue();
  const slow = effect(q.enqueue('client-kill 1', 20, false));
  const next = outcome(q.enqueue('client-kill 2', 1000, false));
  const multi = outcome(q.enqueue('version', 1000, true));
  tick(20);
  assert.equal(await slow, true, 'written and unanswered: the daemon may still run it');
  feed('SUCCESS: late 1', 'ERROR: 2');
  feed('OpenVPN Version: x', 'END');
  assert.deepEqual(await Promise.all([next, multi]), [
    err('2'),
    { ok: true, message: '', lines: ['OpenVPN Version: x'] },
  ]);
  assert.deepEqual(written, ['client-kill 1', 'client-kill 2', 'version']);
  // A timed-out multi-line command's late reply is consumed whole as well.
  const slowStatus = outcome(q.enqueue('status 3', 20, true));
  tick(20);
  assert.equal(await slowStatus, 'GatewayUnavailableError');
  const after = outcome(q.enqueue('pid', 1000, false));
  feed('TITLE', 'END', 'SUCCESS: pid=1');
  assert.deepEqual(await after, ok('pid=1'));
});

test('stuck: the oldest command without a reply for stuckAfterMs resets the link; any reply re-arms the watch', async (t) => {
  const tick = mockTimers(t);
  const { q, stuck, feed } = queue({ stuckAfterMs: 60 });
  const replies = ['a', 'b', 'c'].map((x) => outcome(q.enqueue(x, 5000, false)));
  tick(40);
  feed('SUCCESS: a');
  tick(40);
  feed('SUCCESS: b');
  assert.deepEqual(stuck, [], '80 ms after the first write, but every reply re-armed the watch');
  tick(59);
  assert.deepEqual(stuck, [], 'c has waited 59 ms');
  tick(1);
  assert.deepEqual(stuck, ['c']);
  q.failAll('down');
  assert.deepEqual(await Promise.all(replies), [ok('a'), ok('b'), 'GatewayUnavailableError']);
});

test('failAll rejects written and waiting commands and stops every timer', async (t) => {
  const tick = mockTimers(t);
  const { q, written, stuck } = queue({ maxInFlight: 1, stuckAfterMs: 30 });
  const replies = ['a', 'b'].map((x) => effect(q.enqueue(x, 50, false)));
  q.failAll('link down');
  assert.deepEqual(await Promise.all(replies), [true, false], 'a was written (may take effect), b was not');
  tick(80); // past the stuck watch and both deadlines: a timer left running would fire now
  assert.deepEqual([written, stuck], [['a'], []]);
  // A stray line afterwards answers nothing.
  q.onReplyLine('SUCCESS: stray');
  const c = outcome(q.enqueue('c', 1000, false));
  q.onReplyLine('SUCCESS: c');
  assert.deepEqual(await c, ok('c'));
});
