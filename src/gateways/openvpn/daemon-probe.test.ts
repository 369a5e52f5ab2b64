/** The probe's state machine with mock timers and a scripted daemon (the real daemon: test/daemon-stall.test.ts). */
import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { DaemonProbe } from './daemon-probe.js';

/**
 * A daemon that answers each probe at once, or (stalled) holds it; a held probe times out as the
 * command queue's do, and one still waiting when the daemon resumes is answered then.
 */
function scripted() {
  let answering = true;
  let bytes = 0;
  const held: Array<() => void> = [];
  const sent: number[] = [];
  const changes: boolean[] = [];
  const probe = new DaemonProbe({
    intervalMs: 1000,
    timeoutMs: 1500,
    send: (timeoutMs) => {
      sent.push(timeoutMs);
      if (answering) return Promise.resolve('pid=1');
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
        held.push(() => {
          clearTimeout(timer);
          resolve('pid=1');
        });
      });
    },
    activity: () => bytes,
    onChange: (r) => void changes.push(r),
  });
  return {
    probe,
    sent,
    changes,
    stall: () => (answering = false),
    resume: () => {
      answering = true;
      for (const answer of held.splice(0)) answer();
    },
    chatter: () => (bytes += 1),
  };
}

/** Advances mock time in steps and lets promise callbacks run in between. */
async function advance(ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    mock.timers.tick(step);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout'] }));
afterEach(() => mock.timers.reset());

test('a daemon that answers stays responding; one probe per interval', async () => {
  const d = scripted();
  d.probe.start();
  await advance(5000);
  assert.equal(d.probe.responding, true);
  assert.deepEqual(d.changes, []);
  assert.equal(d.sent.length, 5);
});

test('no answer within the timeout: not responding, with one probe outstanding at a time; the next answer: responding again', async () => {
  const d = scripted();
  d.probe.start();
  d.stall();
  await advance(1000); // first probe sent, unanswered
  assert.equal(d.probe.responding, true);
  await advance(1000); // the second tick finds it outstanding and sends nothing
  assert.equal(d.sent.length, 1);
  await advance(600); // 1500 ms after it was sent
  assert.equal(d.probe.responding, false);
  assert.deepEqual(d.changes, [false]);
  await advance(3000); // still stalled: probes go on, the state stays
  assert.deepEqual(d.changes, [false]);
  d.resume();
  await advance(1000);
  assert.equal(d.probe.responding, true);
  assert.deepEqual(d.changes, [false, true]);
});

test('a daemon busy sending something else while a probe waits is not marked as stalled', async () => {
  const d = scripted();
  d.probe.start();
  d.stall();
  await advance(1000);
  d.chatter(); // a long status reply streams in
  await advance(1500);
  assert.equal(d.probe.responding, true);
  await advance(2000); // the next probe times out with no byte meanwhile
  assert.equal(d.probe.responding, false);
});

test('stop disregards a probe in flight; start on a new link says responding again', async () => {
  const d = scripted();
  d.probe.start();
  d.stall();
  await advance(2600);
  assert.equal(d.probe.responding, false);
  d.probe.stop();
  await advance(5000);
  assert.deepEqual(d.changes, [false], 'no probe while stopped');
  const sentWhileStopped = d.sent.length;
  d.probe.start(); // the new link's banner was an answer
  assert.deepEqual(d.changes, [false, true]);
  d.probe.stop();
  d.probe.start();
  await advance(1000);
  assert.equal(d.sent.length, sentWhileStopped + 1);
  // A late rejection of a probe from before a stop changes nothing.
  d.stall();
  await advance(1000);
  d.probe.stop();
  await advance(3000);
  assert.equal(d.probe.responding, true);
});
