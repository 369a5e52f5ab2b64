import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyOf } from './copy.js';
import { MemoryBus } from './memory-bus.js';

/** Runs `fn` with `structuredClone` counted (and still working). */
async function countingClones<T>(fn: () => Promise<T>): Promise<{ result: T; clones: number }> {
  const original = globalThis.structuredClone;
  let clones = 0;
  globalThis.structuredClone = ((value: unknown, options?: StructuredSerializeOptions) => {
    clones++;
    return original(value, options);
  }) as typeof structuredClone;
  try {
    return { result: await fn(), clones };
  } finally {
    globalThis.structuredClone = original;
  }
}

test('a plain message is copied as structuredClone copies it, sharing no object with the original', () => {
  const message = {
    version: 3,
    kind: 'session.disconnected',
    at: 1_765_100_000_000,
    sessions: [{ ref: 'c1', bytes: 12n, gone: undefined, ok: true, n: -0, none: null, tags: ['a', 'b'] }],
  };
  const copy = copyOf(message);
  assert.deepEqual(copy, structuredClone(message));
  assert.ok(Object.is(copy.sessions[0]!.n, -0));
  assert.notEqual(copy, message);
  assert.notEqual(copy.sessions, message.sessions);
  assert.notEqual(copy.sessions[0], message.sessions[0]);
  assert.notEqual(copy.sessions[0]!.tags, message.sessions[0]!.tags);
  assert.equal(Object.getPrototypeOf(copyOf(Object.assign(Object.create(null), { a: 1 }))), Object.prototype);
});

test('what the copy does not make itself is copied by structuredClone, whole: copied, or refused with its error', () => {
  const at = new Date(5);
  assert.ok(copyOf({ at }).at instanceof Date);
  assert.ok(copyOf({ m: new Map([[1, 2]]) }).m instanceof Map);
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const c = copyOf(cycle);
  assert.equal(c.self, c);
  // A `__proto__` key (JSON.parse makes one) is data, never the copy's prototype.
  const parsed = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  const p = copyOf(parsed);
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
  assert.deepEqual(p, structuredClone(parsed));
  // eslint-disable-next-line no-sparse-arrays
  assert.equal(1 in copyOf([1, , 3]), false, 'a hole stays a hole');
  assert.throws(
    () => copyOf({ f: () => 1 }),
    (e: Error) => e.name === 'DataCloneError',
  );
  assert.throws(
    () => copyOf({ s: Symbol('s') }),
    (e: Error) => e.name === 'DataCloneError',
  );
});

test('the memory bus copies a plain request, its reply and a plain publish without structuredClone', async () => {
  const bus = new MemoryBus();
  try {
    bus.serve('t.kill', async (d) => ({ outcome: 'ENDED', ref: (d as { ref: string }).ref }));
    const heard: unknown[] = [];
    bus.subscribe('t.report', (d) => void heard.push(d));
    const { result, clones } = await countingClones(async () => {
      const reply = await bus.request('t.kill', { ref: 'c1', mode: 'HALT', message: null }, { timeoutMs: 1000 });
      await bus.publish('t.report', { kind: 'session.disconnected', sessions: [{ ref: 'c1' }] });
      await new Promise((r) => setImmediate(r));
      return reply;
    });
    assert.deepEqual(result, { outcome: 'ENDED', ref: 'c1' });
    assert.deepEqual(heard, [{ kind: 'session.disconnected', sessions: [{ ref: 'c1' }] }]);
    assert.equal(clones, 0);
  } finally {
    await bus.close();
  }
});
