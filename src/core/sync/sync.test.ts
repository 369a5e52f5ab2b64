import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoreHarness, type CoreHarness } from '../../../test/support/core-harness.js';

let h: CoreHarness;
const dbFile = join(mkdtempSync(join(tmpdir(), 'sb-sync-')), 'sync.db');
before(async () => {
  h = await startCoreHarness(dbFile, { gatewayIds: ['gw-s'] });
});
after(() => h.close());

const gw = () => h.gateways[0]!;
const byRef = (ref: string) => h.store.sessions.findByRef('gw-s', ref);

test('a connect creates one session with a sess_ id; the snapshot that repeats it changes nothing', async () => {
  const r = gw().connect('alice', { bytesReceived: 10 });
  await h.settle();
  const s = await byRef(r.ref);
  assert.match(s!.id, /^sess_[a-z0-9]{12}$/);
  assert.equal(s!.userName, 'alice');
  r.bytesReceived = 500;
  await gw().snapshot();
  await h.settle();
  const again = await byRef(r.ref);
  assert.equal(again!.id, s!.id);
  assert.equal(again!.bytesReceived, 500, 'snapshot refreshes counters');
  assert.equal(await h.store.sessions.countOnline({ gatewayId: 'gw-s' }), 1);
});

test('a transport learnt after the session was stored is filled in by the next snapshot, never changed after', async () => {
  const r = gw().connect('frida', { transport: null });
  await h.settle();
  assert.equal((await byRef(r.ref))!.transport, null, 'not known when it connected');
  r.transport = 'TCP';
  await gw().snapshot();
  await h.settle();
  assert.equal((await byRef(r.ref))!.transport, 'TCP');
  r.transport = 'UDP';
  await gw().snapshot();
  await h.settle();
  assert.equal((await byRef(r.ref))!.transport, 'TCP', 'a known transport stays');
});

test('a client that quits ends its session with CLIENT_DISCONNECT', async () => {
  const r = gw().connect('bob');
  await h.settle();
  gw().quit(r.ref);
  await h.settle();
  const s = await byRef(r.ref);
  assert.equal(s!.endCause, 'CLIENT_DISCONNECT');
  assert.ok(s!.endedAt);
});

test('a lost delta heals at the next snapshot, both ways', async () => {
  const ghost = gw().connect('carol');
  await h.settle();
  gw().sessions.delete(ghost.ref); // quit, but the event was lost
  const unseen = { ...gw().connect('dave') };
  await h.settle();
  await h.store.sessions.markEnded((await byRef(unseen.ref))!.id, { endedAt: Date.now(), cause: 'CLIENT_DISCONNECT' });
  // dave's row was ended by mistake above; the snapshot must not revive it (ended never comes back)
  await gw().snapshot();
  await h.settle();
  assert.equal((await byRef(ghost.ref))!.endCause, 'CLIENT_DISCONNECT');
  assert.notEqual((await byRef(unseen.ref))!.endedAt, null, 'an ended session never comes back to life');
});

test('a report for a session the store never saw creates it at the next snapshot', async () => {
  const before = await h.store.sessions.countOnline({ gatewayId: 'gw-s' });
  gw().sessions.set('x:999', { ...gw().connect('erin'), ref: 'x:999' });
  await gw().snapshot();
  await h.settle();
  assert.ok(await byRef('x:999'));
  assert.equal(await h.store.sessions.countOnline({ gatewayId: 'gw-s' }), before + 2);
});

test('daemon restart: sessions it no longer has end with GATEWAY_RESTART; reused refs are new sessions', async () => {
  const online = await h.store.sessions.listOnlineByGateway('gw-s');
  assert.ok(online.length > 0);
  gw().restart();
  await h.settle();
  for (const s of online) assert.equal((await h.store.sessions.findById(s.id))!.endCause, 'GATEWAY_RESTART');
  assert.equal((await h.store.gateways.findById('gw-s'))!.daemonStartedAt, gw().daemonStartedAt);
});

test('session ids survive a restart of Switchboard (same store, same refs)', async () => {
  const r = gw().connect('frank');
  await h.settle();
  const id = (await byRef(r.ref))!.id;
  const sessions = new Map(gw().sessions);
  await h.close();
  h = await startCoreHarness(dbFile, {
    gatewayIds: ['gw-s'],
    prepare: ([g]) => {
      for (const [k, v] of sessions) g!.sessions.set(k, v);
      g!.daemonStartedAt = Number(r.ref.split(':')[0]);
    },
  });
  const s = await byRef(r.ref);
  assert.equal(s!.id, id);
  assert.equal(s!.endedAt, null);
});

test('link down marks the gateway not connected; the next snapshot marks it connected', async () => {
  gw().linkDown();
  await h.settle();
  assert.equal((await h.store.gateways.findById('gw-s'))!.agentConnected, false);
  const views = await h.core.gateways(h.actor(['sessions:read']));
  assert.equal(views.find((g) => g.id === 'gw-s')!.agentConnected, false);
  gw().state = 'up';
  await gw().snapshot();
  await h.settle();
  assert.equal((await h.core.gateway(h.actor(['sessions:read']), 'gw-s'))!.agentConnected, true);
});
