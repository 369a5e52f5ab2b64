import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayReport } from '../reports.js';
import { ReportQueue } from './report-queue.js';

const heartbeat = (gatewayId: string, seq: number) =>
  ({ type: 'link-down', error: 'x', gatewayId, agentId: 'agent_x', seq, at: seq }) as GatewayReport;

test('at most `concurrency` gateways apply at once; each gateway in order; every report applied once', async () => {
  let inFlight = 0;
  let most = 0;
  const applied: string[] = [];
  const queue = new ReportQueue(async (reports) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    for (const r of reports) applied.push(`${r.gatewayId}:${r.seq}`);
    inFlight--;
  }, 2);
  const done: Promise<void>[] = [];
  for (let seq = 1; seq <= 4; seq++)
    for (const gw of ['a', 'b', 'c', 'd', 'e']) done.push(queue.enqueue(heartbeat(gw, seq)));
  await Promise.all(done);
  await queue.idle();
  assert.equal(most, 2, 'two slots, both used, never more');
  assert.equal(applied.length, 20);
  for (const gw of ['a', 'b', 'c', 'd', 'e']) {
    assert.deepEqual(
      applied.filter((x) => x.startsWith(`${gw}:`)),
      [1, 2, 3, 4].map((seq) => `${gw}:${seq}`),
    );
  }
});

test('a gateway whose apply fails frees its slot, and its next batch still runs', async () => {
  const applied: string[] = [];
  let started!: () => void;
  const failing = new Promise<void>((r) => (started = r));
  const queue = new ReportQueue(async ([r]) => {
    if (r!.seq === 1) {
      started();
      await new Promise((res) => setTimeout(res, 5));
      throw new Error('boom');
    }
    applied.push(`${r!.gatewayId}:${r!.seq}`);
  }, 1);
  const failed = queue.enqueue(heartbeat('bad', 1));
  await failing;
  // Queued behind the batch that is failing now (not part of it).
  const next = queue.enqueue(heartbeat('bad', 2));
  await assert.rejects(failed, /boom/);
  await Promise.all([next, ...['x', 'y'].map((gw) => queue.enqueue(heartbeat(gw, 2)))]);
  assert.deepEqual(applied.sort(), ['bad:2', 'x:2', 'y:2']);
});

test('abandon: the batch applying finishes, the batches waiting are dropped (their promises resolve), and the count says how many', async () => {
  const applied: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const queue = new ReportQueue(async (reports) => {
    if (reports[0]!.seq === 1) {
      started();
      await held;
    }
    for (const r of reports) applied.push(`${r.gatewayId}:${r.seq}`);
  }, 1);
  const first = queue.enqueue(heartbeat('a', 1));
  await running;
  // Waiting: a's next batch (two reports) behind its first, and b behind the only slot.
  const waiting = [
    queue.enqueue(heartbeat('a', 2)),
    queue.enqueue(heartbeat('a', 3)),
    queue.enqueue(heartbeat('b', 1)),
  ];
  const abandoned = queue.abandon();
  release();
  assert.equal(await abandoned, 3, 'three reports dropped');
  await Promise.all([first, ...waiting]);
  assert.deepEqual(applied, ['a:1'], 'only the batch that was applying');
  await queue.enqueue(heartbeat('c', 1));
  assert.deepEqual(applied, ['a:1'], 'nothing is applied after abandon');
});
