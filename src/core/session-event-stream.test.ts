import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjects } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { makeSession } from '../store/contract/fixtures.js';
import { silentLogger } from '../domain/logger.js';
import { MAX_BACKLOG, SessionEventHub } from './session-event-stream.js';
import { sessionEvent } from './session-events.js';
import { versioned } from './reports.js';

const publish = (
  bus: MemoryBus,
  type: 'session.connected' | 'session.disconnected',
  gatewayId: string,
  userName: string,
) =>
  bus.publish(
    subjects.sessionEvents,
    versioned(
      sessionEvent(type, makeSession(gatewayId, { userName, endedAt: type === 'session.disconnected' ? 1 : null })),
    ),
  );
const settle = () => new Promise((r) => setImmediate(r));

test('the hub filters per subscriber, holds one bus subscription while anyone listens, and ends a stream that falls too far behind', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const all = hub.stream({});
  const bobEnds = hub.stream({ userName: 'bob', types: ['session.disconnected'] });
  await publish(bus, 'session.connected', 'gw-1', 'bob');
  await publish(bus, 'session.disconnected', 'gw-2', 'alice');
  await publish(bus, 'session.disconnected', 'gw-1', 'bob');
  await settle();
  const first = await bobEnds.next();
  assert.equal(first.value?.session.userName, 'bob');
  assert.equal(first.value?.type, 'session.disconnected');
  assert.deepEqual(
    [
      (await all.next()).value?.session.userName,
      (await all.next()).value?.session.userName,
      (await all.next()).value?.session.userName,
    ],
    ['bob', 'alice', 'bob'],
  );

  await bobEnds.return!();
  assert.equal(hub.size, 1);
  for (let i = 0; i <= MAX_BACKLOG; i++) await publish(bus, 'session.connected', 'gw-1', `u${i}`);
  await settle();
  assert.equal(hub.size, 0, 'the stuck subscriber was dropped, and the bus subscription with it');
  assert.deepEqual(await all.next(), { value: undefined, done: true });
  await bus.close();
});

test('a token revoked anywhere ends its streams, and only its streams', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const mine = hub.stream({}, 'tok_a');
  const theirs = hub.stream({}, 'tok_b');
  await bus.publish(
    subjects.tokenRevoked,
    versioned({ id: 'evt_revoked1', type: 'token.revoked', at: 1, tokenId: 'tok_a' }),
  );
  await settle();
  assert.deepEqual(await mine.next(), { value: undefined, done: true });
  await publish(bus, 'session.connected', 'gw-1', 'carol');
  await settle();
  assert.equal((await theirs.next()).value?.session.userName, 'carol');
  await theirs.return!();
  assert.equal(hub.size, 0);
  await bus.close();
});

test('an event published twice (two relays) reaches each stream once', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const a = hub.stream({});
  const b = hub.stream({ userName: 'dan' });
  const event = sessionEvent('session.connected', makeSession('gw-1', { userName: 'dan' }));
  await bus.publish(subjects.sessionEvents, versioned(event));
  await bus.publish(subjects.sessionEvents, versioned(event));
  await publish(bus, 'session.connected', 'gw-1', 'dan');
  await settle();
  for (const s of [a, b]) {
    assert.equal((await s.next()).value?.id, event.id);
    assert.notEqual((await s.next()).value?.id, event.id, 'the copy was dropped; the next event is another one');
  }
  await a.return!();
  await b.return!();
  await bus.close();
});

test('a lost store ends every stream with STORE_UNAVAILABLE after what was queued, and refuses new ones until it is back', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const queued = hub.stream({});
  const waiting = hub.stream({ userName: 'nobody' });
  const pending = waiting.next();
  await publish(bus, 'session.connected', 'gw-1', 'erin');
  await settle();
  hub.setStoreHealth({ ok: false, detail: 'connection refused' });
  await assert.rejects(pending, (e: { code?: string }) => e.code === 'STORE_UNAVAILABLE');
  assert.equal((await queued.next()).value?.session.userName, 'erin', 'events already queued are given first');
  await assert.rejects(queued.next(), (e: { code?: string }) => e.code === 'STORE_UNAVAILABLE');
  assert.deepEqual(await queued.next(), { value: undefined, done: true }, 'then the stream is over');
  assert.throws(
    () => hub.stream({}),
    (e: { code?: string }) => e.code === 'STORE_UNAVAILABLE',
  );
  assert.equal(hub.size, 0);
  hub.setStoreHealth({ ok: true });
  const again = hub.stream({});
  await publish(bus, 'session.connected', 'gw-1', 'fay');
  await settle();
  assert.equal((await again.next()).value?.session.userName, 'fay');
  await again.return!();
  await bus.close();
});

test('a lost bus ends every stream with BUS_UNAVAILABLE and refuses new ones', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const s = hub.stream({});
  const pending = s.next();
  await bus.close(); // the in-process bus's only way to be lost; NATS: test/partitioned-replica.test.ts
  await assert.rejects(pending, (e: { code?: string }) => e.code === 'BUS_UNAVAILABLE');
  assert.throws(
    () => hub.stream({}),
    (e: { code?: string; message?: string }) => e.code === 'BUS_UNAVAILABLE' && /message bus/.test(e.message ?? ''),
  );
});

test('a session event or revocation that does not fit the wire contract is refused; the hub keeps serving', async () => {
  const bus = new MemoryBus();
  const hub = new SessionEventHub({ bus, logger: silentLogger });
  const all = hub.stream({}, 'tok_c');
  const event = sessionEvent('session.connected', makeSession('gw-1', { userName: 'erin' }));
  await bus.publish(subjects.sessionEvents, event); // no version
  await bus.publish(subjects.sessionEvents, { ...versioned(event), version: 99 });
  await bus.publish(
    subjects.sessionEvents,
    versioned({ ...event, session: { ...event.session, userName: 'u'.repeat(513) } }),
  );
  await bus.publish(subjects.tokenRevoked, { id: 'evt_r', type: 'token.revoked', at: 1, tokenId: 'tok_c' }); // no version
  await publish(bus, 'session.connected', 'gw-1', 'fred');
  await settle();
  assert.equal(
    (await all.next()).value?.session.userName,
    'fred',
    'only the readable event arrived, and the stream was not ended',
  );
  await all.return!();
  await bus.close();
});
