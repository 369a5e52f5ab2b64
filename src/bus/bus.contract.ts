/**
 * One contract every Bus implementation passes (memory and NATS): delivery, ordering, wildcards,
 * queue groups, request/reply, deadlines, isolation of payloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusTimeoutError, type Bus } from './bus.js';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await tick(5);
  }
}

export function runBusContract(name: string, open: () => Promise<Bus>): void {
  const unique = () => `t${Math.random().toString(36).slice(2, 10)}`;

  test(`${name}: publish reaches every plain subscriber, in order`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const a: number[] = [];
      const b: number[] = [];
      bus.subscribe(`${s}.x`, (d) => void a.push((d as { n: number }).n));
      bus.subscribe(`${s}.x`, (d) => void b.push((d as { n: number }).n));
      await tick();
      for (let n = 0; n < 50; n++) await bus.publish(`${s}.x`, { n });
      await until(() => a.length === 50 && b.length === 50);
      assert.deepEqual(a, [...Array(50).keys()]);
      assert.deepEqual(b, a);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: wildcards * and > match as in NATS`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const star: string[] = [];
      const all: string[] = [];
      bus.subscribe(`${s}.gw.*.report`, (_d, subj) => void star.push(subj));
      bus.subscribe(`${s}.>`, (_d, subj) => void all.push(subj));
      await tick();
      await bus.publish(`${s}.gw.a.report`, 1);
      await bus.publish(`${s}.gw.b.report`, 2);
      await bus.publish(`${s}.gw.b.other`, 3);
      await until(() => all.length === 3);
      await tick();
      assert.deepEqual(star.sort(), [`${s}.gw.a.report`, `${s}.gw.b.report`]);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a queue group gets each message exactly once`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const got: number[][] = [[], [], []];
      for (const g of got) bus.subscribe(`${s}.q`, (d) => void g.push(d as number), { queue: 'workers' });
      await tick();
      for (let n = 0; n < 30; n++) await bus.publish(`${s}.q`, n);
      await until(() => got.flat().length === 30);
      await tick(50);
      assert.deepEqual(got.flat().sort((x, y) => x - y), [...Array(30).keys()]);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: request/reply returns the server's answer; payloads are copies`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const sent = { ref: 'a', nested: { n: 1 } };
      bus.serve(`${s}.kill`, async (d) => {
        (d as { nested: { n: number } }).nested.n = 99;
        return { outcome: 'ENDED', echo: d };
      });
      await tick();
      const reply = (await bus.request(`${s}.kill`, sent, { timeoutMs: 1000 })) as { outcome: string; echo: typeof sent };
      assert.equal(reply.outcome, 'ENDED');
      assert.equal(reply.echo.ref, 'a');
      assert.equal(sent.nested.n, 1, 'the requester object is not shared with the server');
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a request nobody serves fails with BusTimeoutError`, async () => {
    const bus = await open();
    try {
      await assert.rejects(bus.request(`${unique()}.none`, {}, { timeoutMs: 300 }), BusTimeoutError);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a server slower than the deadline fails with BusTimeoutError`, async () => {
    const bus = await open();
    try {
      const s = unique();
      bus.serve(`${s}.slow`, () => new Promise((r) => setTimeout(() => r('late'), 1000)));
      await tick();
      const err = await bus.request(`${s}.slow`, {}, { timeoutMs: 100 }).catch((e: unknown) => e);
      assert.ok(err instanceof BusTimeoutError);
      assert.equal(err.noResponders, false);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: unsubscribe stops delivery`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const got: unknown[] = [];
      const off = bus.subscribe(`${s}.u`, (d) => void got.push(d));
      await tick();
      await bus.publish(`${s}.u`, 1);
      await until(() => got.length === 1);
      off();
      await tick();
      await bus.publish(`${s}.u`, 2);
      await tick(100);
      assert.deepEqual(got, [1]);
    } finally {
      await bus.close();
    }
  });
}
