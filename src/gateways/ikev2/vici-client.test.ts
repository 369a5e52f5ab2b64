import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../test/support/wait.js';
import { FakeVici, msg } from './fake-vici.test-support.js';
import { ViciConnection, ViciRequestError, viciSocketPath } from './vici-client.js';
import type { ViciPacket } from './vici-codec.js';

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

test('viciSocketPath accepts unix:/p, unix:///p and a plain path', () => {
  assert.equal(viciSocketPath('unix:/run/charon.vici'), '/run/charon.vici');
  assert.equal(viciSocketPath('unix:///run/charon.vici'), '/run/charon.vici');
  assert.equal(viciSocketPath('/run/charon.vici'), '/run/charon.vici');
});

test('commands are answered in order; a streamed command collects its events and unregisters', async () => {
  const fake = await FakeVici.start((p): ViciPacket[] => {
    if (p.type === 'EVENT_REGISTER' || p.type === 'EVENT_UNREGISTER')
      return [{ type: p.name === 'nope' ? 'EVENT_UNKNOWN' : 'EVENT_CONFIRM' }];
    if (p.type !== 'CMD_REQUEST') return [];
    if (p.name === 'list-sas') {
      return [
        { type: 'EVENT', name: 'list-sa', message: msg({ a: msg({ uniqueid: '1' }) }) },
        { type: 'EVENT', name: 'ike-updown', message: msg({ up: 'yes' }) },
        { type: 'EVENT', name: 'list-sa', message: msg({ b: msg({ uniqueid: '2' }) }) },
        { type: 'CMD_RESPONSE', message: msg({}) },
      ];
    }
    if (p.name === 'unknown-cmd') return [{ type: 'CMD_UNKNOWN' }];
    return [{ type: 'CMD_RESPONSE', message: msg({ echo: p.name }) }];
  });
  const events: string[] = [];
  const vici = await ViciConnection.open(fake.address, { onEvent: (name) => events.push(name) }, 1000);
  try {
    const replies = await Promise.all(['one', 'two', 'three'].map((n) => vici.command(n)));
    assert.deepEqual(
      replies.map((r) => r.echo),
      ['one', 'two', 'three'],
    );
    const { events: listed } = await vici.stream('list-sas', 'list-sa');
    assert.deepEqual(plain(listed), [{ a: { uniqueid: '1' } }, { b: { uniqueid: '2' } }]);
    assert.deepEqual(events, ['ike-updown'], 'other events still reach onEvent');
    assert.deepEqual(fake.received.map((p) => ('name' in p ? `${p.type} ${p.name}` : p.type)).slice(3), [
      'EVENT_REGISTER list-sa',
      'CMD_REQUEST list-sas',
      'EVENT_UNREGISTER list-sa',
    ]);
    await assert.rejects(vici.command('unknown-cmd'), /does not know the VICI command/);
    await assert.rejects(vici.register('nope'), /does not know the VICI event/);
  } finally {
    vici.close();
    await fake.close();
  }
});

test('no answer in time closes the connection; the request was written', async () => {
  const fake = await FakeVici.start(() => []);
  let closed = '';
  const vici = await ViciConnection.open(fake.address, { onClose: (e) => (closed = e) }, 1000);
  try {
    await assert.rejects(
      vici.command('terminate', msg({ 'ike-id': '1' }), 50),
      (e) => e instanceof ViciRequestError && e.written,
    );
    assert.equal(vici.closed, true);
    assert.match(closed, /did not answer within 50 ms/);
    await assert.rejects(vici.command('version'), (e) => e instanceof ViciRequestError && !e.written);
  } finally {
    await fake.close();
  }
});

test('an answer nobody asked for, or garbage, closes the connection', async () => {
  const fake = await FakeVici.start(() => []);
  let closed = '';
  const vici = await ViciConnection.open(fake.address, { onClose: (e) => (closed = e) }, 1000);
  for (const s of fake.sockets) s.write(Buffer.from([0, 0, 0, 1, 9]));
  await waitFor(() => vici.closed, 5000, 'the connection closed', 5);
  assert.match(closed, /unknown packet type 9/);
  await fake.close();
});

test('connecting to a missing socket fails at once, with nothing written', async () => {
  await assert.rejects(
    ViciConnection.open('unix:/nonexistent/charon.vici', {}, 1000),
    (e) => e instanceof ViciRequestError && !e.written && /cannot connect/.test(e.message),
  );
});

test('a request still queued behind an unanswered one when its time is up is dropped, never written later', async () => {
  let answerSlow: (() => void) | null = null;
  const fake = await FakeVici.start((p): ViciPacket[] | Promise<ViciPacket[]> => {
    if (p.type !== 'CMD_REQUEST') return [];
    if (p.name === 'list-sas')
      return new Promise((resolve) => (answerSlow = () => resolve([{ type: 'CMD_RESPONSE', message: msg({}) }])));
    return [{ type: 'CMD_RESPONSE', message: msg({ echo: p.name }) }];
  });
  const vici = await ViciConnection.open(fake.address, {}, 1000);
  try {
    const slow = vici.command('list-sas', msg({}), 10_000);
    await waitFor(() => answerSlow !== null, 5000, 'the listing written', 5);
    await assert.rejects(
      vici.command('terminate', msg({ 'ike-id': '1' }), 50),
      (e) => e instanceof ViciRequestError && !e.written && /not written/.test(e.message),
    );
    answerSlow!();
    await slow;
    assert.equal((await vici.command('version')).echo, 'version', 'the connection stays in step');
    assert.equal(vici.closed, false);
    assert.deepEqual(
      fake.received.filter((p) => p.type === 'CMD_REQUEST').map((p) => ('name' in p ? p.name : '')),
      ['list-sas', 'version'],
      'the dropped terminate never reached charon',
    );
  } finally {
    vici.close();
    await fake.close();
  }
});
