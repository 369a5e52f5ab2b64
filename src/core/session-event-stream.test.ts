import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjects } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory/memory-bus.js';
import { makeSession } from '../store/contract/fixtures.js';
import { silentLogger } from './logger.js';
import { MAX_BACKLOG, SessionEventHub } from './session-event-stream.js';
import { sessionEvent } from './session-events.js';

const publish = (bus: MemoryBus, type: 'session.connected' | 'session.disconnected', gatewayId: string, userName: string) =>
  bus.publish(subjects.sessionEvents, sessionEvent(type, makeSession(gatewayId, { userName, endedAt: type === 'session.disconnected' ? 1 : null })));
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
  assert.deepEqual([(await all.next()).value?.session.userName, (await all.next()).value?.session.userName, (await all.next()).value?.session.userName], ['bob', 'alice', 'bob']);

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
  await bus.publish(subjects.tokenRevoked, { tokenId: 'tok_a' });
  await settle();
  assert.deepEqual(await mine.next(), { value: undefined, done: true });
  await publish(bus, 'session.connected', 'gw-1', 'carol');
  await settle();
  assert.equal((await theirs.next()).value?.session.userName, 'carol');
  await theirs.return!();
  assert.equal(hub.size, 0);
  await bus.close();
});
