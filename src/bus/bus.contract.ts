/**
 * One contract every Bus implementation passes (memory and NATS): delivery, ordering, wildcards,
 * queue groups, request/reply, deadlines, isolation of payloads.
 */
import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../test/support/wait.js';
import { BusTimeoutError, type Bus } from './bus.js';

/**
 * No test sleeps: `bus.flush` after a subscribe means the subscription is in place (NATS: the server
 * answered a ping sent after it); after publishes, every message they sent has reached its handlers,
 * so a duplicate or a stray delivery would already show. Waits for the bus itself use `waitFor`.
 */
const FLUSH_MS = 2000;
const until = (check: () => boolean) => waitFor(check, 2000, 'the deliveries', 5);

/** `skip`: a reason to skip every test (an implementation whose server is not reachable here). */
/** What two handlers of `subject` receive, both in one list (subscribed, and flushed to the server). */
async function twoSubscribers(bus: Bus, subject: string): Promise<unknown[]> {
  const got: unknown[] = [];
  bus.subscribe(subject, (d) => void got.push(d));
  bus.subscribe(subject, (d) => void got.push(d));
  await bus.flush(FLUSH_MS);
  return got;
}

export function runBusContract(name: string, open: () => Promise<Bus>, options: { skip?: string | false } = {}): void {
  const unique = () => `t${Math.random().toString(36).slice(2, 10)}`;
  const test = (title: string, fn: () => Promise<void>) => nodeTest(title, { skip: options.skip ?? false }, fn);

  test(`${name}: connected once open, not after close`, async () => {
    const bus = await open();
    assert.equal(bus.connected, true);
    await bus.close();
    assert.equal(bus.connected, false);
  });

  test(`${name}: publish reaches every plain subscriber, in order`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const a: number[] = [];
      const b: number[] = [];
      bus.subscribe(`${s}.x`, (d) => void a.push((d as { n: number }).n));
      bus.subscribe(`${s}.x`, (d) => void b.push((d as { n: number }).n));
      await bus.flush(FLUSH_MS);
      for (let n = 0; n < 50; n++) await bus.publish(`${s}.x`, { n });
      await until(() => a.length === 50 && b.length === 50);
      assert.deepEqual(a, [...Array(50).keys()]);
      assert.deepEqual(b, a);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a published value changed afterwards reaches its subscribers as it was`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const got = await twoSubscribers(bus, `${s}.x`);
      const sent = { ref: 'a', nested: { n: 1 } };
      const published = bus.publish(`${s}.x`, sent);
      sent.nested.n = 99;
      await published;
      await until(() => got.length === 2);
      assert.deepEqual(got, [
        { ref: 'a', nested: { n: 1 } },
        { ref: 'a', nested: { n: 1 } },
      ]);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: publishJson delivers the value of the text, as publish delivers the value`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const got = await twoSubscribers(bus, `${s}.j`);
      const value = { id: 'evt_1', n: 2 ** 40, nested: { list: [1, 'ü', null] }, version: 1 };
      await bus.publishJson(`${s}.j`, JSON.stringify(value));
      await bus.publish(`${s}.j`, value);
      await bus.publishJson(`${s}.nobody`, JSON.stringify(value));
      await until(() => got.length === 4);
      assert.deepEqual(got, [value, value, value, value]);
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
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.gw.a.report`, 1);
      await bus.publish(`${s}.gw.b.report`, 2);
      await bus.publish(`${s}.gw.b.other`, 3);
      await until(() => all.length === 3);
      await bus.flush(FLUSH_MS);
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
      await bus.flush(FLUSH_MS);
      for (let n = 0; n < 30; n++) await bus.publish(`${s}.q`, n);
      await until(() => got.flat().length === 30);
      await bus.flush(FLUSH_MS);
      assert.deepEqual(
        got.flat().sort((x, y) => x - y),
        [...Array(30).keys()],
      );
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
      await bus.flush(FLUSH_MS);
      const reply = (await bus.request(`${s}.kill`, sent, { timeoutMs: 1000 })) as {
        outcome: string;
        echo: typeof sent;
      };
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
      await bus.flush(FLUSH_MS);
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
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.u`, 1);
      await until(() => got.length === 1);
      off();
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.u`, 2);
      await bus.flush(FLUSH_MS);
      assert.deepEqual(got, [1]);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a subscriber added after messages on its subject hears the next one`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const first: unknown[] = [];
      const later: unknown[] = [];
      bus.subscribe(`${s}.late`, (d) => void first.push(d));
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.late`, 1);
      await until(() => first.length === 1);
      bus.subscribe(`${s}.>`, (d) => void later.push(d));
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.late`, 2);
      await until(() => first.length === 2 && later.length === 1);
      assert.deepEqual([first, later], [[1, 2], [2]]);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: requests follow their servers: a server stopped answers none, one served after requests answers the next`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const stop = bus.serve(`${s}.gw`, async () => 'first');
      await bus.flush(FLUSH_MS);
      assert.equal(await bus.request(`${s}.gw`, {}, { timeoutMs: 1000 }), 'first');
      stop();
      await bus.flush(FLUSH_MS);
      await assert.rejects(bus.request(`${s}.gw`, {}, { timeoutMs: 300 }), BusTimeoutError);
      bus.serve(`${s}.*`, async () => 'second');
      await bus.flush(FLUSH_MS);
      assert.equal(await bus.request(`${s}.gw`, {}, { timeoutMs: 1000 }), 'second');
    } finally {
      await bus.close();
    }
  });

  test(`${name}: a server's error reaches the requester as a rejection with its message`, async () => {
    const bus = await open();
    try {
      const s = unique();
      bus.serve(`${s}.fail`, async () => {
        throw new Error('gateway on fire');
      });
      await bus.flush(FLUSH_MS);
      const err = await bus.request(`${s}.fail`, {}, { timeoutMs: 1000 }).catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof BusTimeoutError), 'an error reply is not a timeout');
      assert.equal(err.message, 'gateway on fire');
    } finally {
      await bus.close();
    }
  });

  test(`${name}: handlers that throw or reject do not end their subscription`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const got: number[] = [];
      bus.subscribe(`${s}.sync`, (d) => {
        got.push(d as number);
        throw new Error('sync failure');
      });
      bus.subscribe(`${s}.async`, async (d) => {
        got.push(d as number);
        throw new Error('async failure');
      });
      let calls = 0;
      bus.serve(`${s}.srv`, (d) => {
        calls++;
        if (d === 'throw') throw new Error('thrown, not rejected');
        return Promise.resolve('ok');
      });
      await bus.flush(FLUSH_MS);
      await bus.publish(`${s}.sync`, 1);
      await bus.publish(`${s}.async`, 2);
      await bus.publish(`${s}.sync`, 3);
      await bus.publish(`${s}.async`, 4);
      await until(() => got.length === 4);
      assert.deepEqual(got.sort(), [1, 2, 3, 4]);
      await assert.rejects(bus.request(`${s}.srv`, 'throw', { timeoutMs: 1000 }), /thrown, not rejected/);
      assert.equal(await bus.request(`${s}.srv`, 'fine', { timeoutMs: 1000 }), 'ok');
      assert.equal(calls, 2);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: servers in a queue group answer each request once`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const served = [0, 0];
      served.forEach((_, i) =>
        bus.serve(
          `${s}.qs`,
          async (d) => {
            served[i]!++;
            return d;
          },
          { queue: 'agents' },
        ),
      );
      await bus.flush(FLUSH_MS);
      for (let n = 0; n < 20; n++) assert.equal(await bus.request(`${s}.qs`, n, { timeoutMs: 1000 }), n);
      await bus.flush(FLUSH_MS);
      assert.equal(served[0]! + served[1]!, 20);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: JSON values round-trip unchanged`, async () => {
    const bus = await open();
    try {
      const s = unique();
      const values: unknown[] = [
        { a: [1, 'x', null, true], n: 1.5, nested: { deep: { ok: false } } },
        'text',
        0,
        null,
        [],
        'ünïcødé ✓',
      ];
      const got: unknown[] = [];
      bus.subscribe(`${s}.v`, (d) => void got.push(d));
      bus.serve(`${s}.echo`, async (d) => d);
      await bus.flush(FLUSH_MS);
      for (const v of values) await bus.publish(`${s}.v`, v);
      await until(() => got.length === values.length);
      assert.deepEqual(got, values);
      for (const v of values) assert.deepEqual(await bus.request(`${s}.echo`, v, { timeoutMs: 1000 }), v);
    } finally {
      await bus.close();
    }
  });

  test(`${name}: connected until closed; flush resolves while connected and rejects after close; close is announced`, async () => {
    const bus = await open();
    const changes: boolean[] = [];
    bus.onConnectedChange((up) => void changes.push(up));
    assert.equal(bus.connected, true);
    const s = unique();
    const got: unknown[] = [];
    bus.subscribe(`${s}.f`, (d) => void got.push(d));
    await bus.flush(FLUSH_MS);
    await bus.publish(`${s}.f`, 1);
    await bus.flush(2000);
    await until(() => got.length === 1);
    await bus.close();
    assert.equal(bus.connected, false);
    await until(() => changes.length > 0);
    assert.deepEqual(changes, [false]);
    await assert.rejects(bus.flush(500));
  });
}
