/**
 * The OpenConnect adapter against a real ocserv and real openconnect clients, each in a network
 * namespace of its own: listing, the live event stream, ending exactly one tunnel (and nothing when
 * the worker pid now names another), ocserv going away and coming back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionReport } from '../../domain/session.js';
import { GatewayUnavailableError } from '../adapter.js';
import { OcservLab, ocservSkipReason, type OcLabClient } from '../../../test/support/ocserv-lab.js';
import { waitFor } from '../../../test/support/wait.js';
import { AdapterEventLog } from '../adapter-event-log.test-support.js';
import { OcctlClient, processRunner } from './occtl-client.js';
import { OpenConnectAdapter } from './openconnect-adapter.js';
import { parseSessionRef } from './session-ref.js';

const skip = ocservSkipReason();

function byUser(sessions: SessionReport[], user: string): SessionReport {
  const s = sessions.filter((x) => x.userName === user);
  assert.equal(s.length, 1, `exactly one session of ${user}: ${JSON.stringify(sessions)}`);
  return s[0]!;
}

describe('OpenConnect adapter against a real ocserv', { skip }, () => {
  let lab: OcservLab;
  let adapter: OpenConnectAdapter;
  let occtl: OcctlClient;
  const events = new AdapterEventLog();
  const clients: Record<string, OcLabClient> = {};

  before(async () => {
    lab = await OcservLab.create();
    await lab.start();
    for (const user of ['alice', 'bob', 'carol']) clients[user] = await lab.startClient(user);
    occtl = new OcctlClient(processRunner(lab.target));
    adapter = new OpenConnectAdapter(lab.gatewayConfig({ id: 'oc-test', snapshotIntervalMs: 60_000 }), {
      probe: { intervalMs: 500, timeoutMs: 2_000 },
    });
    adapter.start(events.push);
  });
  after(async () => {
    await adapter?.stop();
    await lab?.close();
  });

  test("the first snapshot lists every tunnel from ocserv's own view", async () => {
    const snap = await events.waitFor('snapshot', (e) => e.sessions.length === 3);
    const users = await occtl.users();
    assert.ok(snap.daemonStartedAt !== null && snap.daemonStartedAt <= Date.now());
    for (const name of ['alice', 'bob', 'carol']) {
      const s = byUser(snap.sessions, name);
      const u = users.find((x) => x.userName === name)!;
      assert.deepEqual(parseSessionRef(s.ref), { pid: u.id, safeId: u.safeId });
      assert.match(s.clientAddress ?? '', /^10\.201\.\d\.2$/);
      assert.match(s.virtualAddress ?? '', /^10\.94\.0\.\d+$/);
      assert.match(s.clientVersion ?? '', /AnyConnect/);
      assert.ok(Math.abs(s.connectedAt - Date.now()) < 60_000);
    }
    assert.equal(new Set(snap.sessions.map((s) => s.ref)).size, 3);
    assert.equal(adapter.isConnected(), true);
  });

  test('ending one tunnel: ocserv confirms, it is gone, its client is told and exits; the others keep passing traffic', async () => {
    const before = (await occtl.users()).filter((u) => u.state === 'connected');
    const victim = before.find((u) => u.userName === 'bob')!;
    const others = before.filter((u) => u.userName !== 'bob');
    const from = events.mark();
    const outcome = await adapter.disconnect(
      { ref: `${victim.id}:${victim.safeId}`, userName: 'bob', mode: 'HALT' },
      5_000,
    );
    assert.equal(outcome, 'ENDED');
    assert.equal(await occtl.user(victim.id), null, 'gone from the listing when the adapter says ENDED');
    await clients.bob!.waitForLog(/Session terminated by server; exiting/);
    await clients.bob!.waitExited();
    const ended = await events.waitFor('session.disconnected', (e) => e.ref === `${victim.id}:${victim.safeId}`, {
      from,
    });
    assert.equal(ended.cause, 'ADMIN_DISCONNECT');
    assert.equal(events.all('session.disconnected', from).length, 1, "one end, the victim's");
    const after = (await occtl.users()).filter((u) => u.state === 'connected');
    assert.deepEqual(
      after.map((u) => [u.id, u.safeId]).sort(),
      others.map((u) => [u.id, u.safeId]).sort(),
      'the others are untouched',
    );
    for (const u of others) {
      const name = u.userName;
      assert.equal(clients[name]!.exited, false);
      assert.doesNotMatch(clients[name]!.log(), /terminated|exiting/);
      await clients[name]!.sendTraffic(1000);
      await waitFor(
        async () => ((await occtl.user(u.id))?.bytesReceived ?? 0) >= u.bytesReceived + 1000,
        20_000,
        `${name}'s traffic through its tunnel`,
        50,
      );
    }
  });

  test('RESTART: the client sees its connection drop and reconnects by itself, as a new session', async () => {
    const carol = (await occtl.users()).find((u) => u.userName === 'carol')!;
    const ref = `${carol.id}:${carol.safeId}`;
    const from = events.mark();
    const mark = clients.carol!.logLength();
    assert.equal(await adapter.disconnect({ ref, userName: 'carol', mode: 'RESTART' }, 5_000), 'ENDED');
    const back = await events.waitFor('session.connected', (e) => e.session.userName === 'carol', { from });
    assert.notEqual(back.session.ref, ref);
    assert.equal(
      (await events.waitFor('session.disconnected', (e) => e.ref === ref, { from })).cause,
      'ADMIN_DISCONNECT',
    );
    await clients.carol!.waitForLog(/CSTP connected/, { from: mark });
    assert.equal(clients.carol!.exited, false);
    assert.doesNotMatch(clients.carol!.log().slice(mark), /Session terminated by server/);
  });

  test('a ref that is gone, or whose worker pid now names another tunnel, ends nothing', async () => {
    const alice = (await occtl.users()).find((u) => u.userName === 'alice')!;
    const reused = `${alice.id}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=`;
    assert.equal(await adapter.disconnect({ ref: reused, userName: 'alice', mode: 'HALT' }, 5_000), 'NOT_FOUND');
    assert.equal(
      await adapter.disconnect({ ref: `${alice.id}:${alice.safeId}`, userName: 'mallory', mode: 'HALT' }, 5_000),
      'NOT_FOUND',
    );
    assert.equal(
      await adapter.disconnect({ ref: '99999999:AAAAAAAAAAAAAAAAAAAAAAAAAAA=', userName: 'x', mode: 'HALT' }, 5_000),
      'NOT_FOUND',
    );
    assert.equal(await adapter.disconnect({ ref: 'garbage', userName: 'x', mode: 'HALT' }, 5_000), 'NOT_FOUND');
    assert.ok(await occtl.user(alice.id), 'alice is still connected');
    assert.equal(clients.alice!.exited, false);
  });

  test("connects and a client's own leaving arrive live from the event stream", async () => {
    const from = events.mark();
    clients.dave = await lab.startClient('dave');
    const up = await events.waitFor('session.connected', (e) => e.session.userName === 'dave', { from });
    assert.equal(events.all('snapshot', from).length, 0, 'from the event stream, not a listing');
    await clients.dave.stop();
    const down = await events.waitFor('session.disconnected', (e) => e.ref === up.session.ref, { from });
    assert.equal(down.cause, 'CLIENT_DISCONNECT');
  });

  test("non-ASCII names, which occtl's JSON garbles, are the tunnels' real ones; jürgen's disconnect ends jürgen, not jörgen", async () => {
    // occtl -j prints both names as "j\u00ff\u00ffrgen" (each byte of ü or ö becomes \u00ff).
    await lab.addUser('jörgen', 'straße');
    const from = events.mark();
    for (const name of ['jürgen', 'jörgen']) clients[name] = await lab.startClient(name);
    const up = await Promise.all(
      ['jürgen', 'jörgen'].map((name) =>
        events.waitFor('session.connected', (e) => e.session.userName === name, { from }),
      ),
    );
    assert.deepEqual(
      up.map((e) => e.session.group ?? null),
      [null, 'straße'],
    );
    const listed = (await occtl.users()).filter((u) => u.userName.startsWith('j'));
    assert.deepEqual(listed.map((u) => [u.userName, u.groupName]).sort(), [
      ['jörgen', 'straße'],
      ['jürgen', null],
    ]);
    const jurgen = listed.find((u) => u.userName === 'jürgen')!;
    assert.equal(
      await adapter.disconnect({ ref: `${jurgen.id}:${jurgen.safeId}`, userName: 'jörgen', mode: 'HALT' }, 5_000),
      'NOT_FOUND',
      "a ref checked against jörgen's name does not end jürgen",
    );
    assert.equal(
      await adapter.disconnect({ ref: `${jurgen.id}:${jurgen.safeId}`, userName: 'jürgen', mode: 'HALT' }, 5_000),
      'ENDED',
    );
    await clients['jürgen']!.waitExited();
    assert.equal(clients['jörgen']!.exited, false, 'jörgen is untouched');
    await clients['jörgen']!.stop();
  });

  test('ocserv stalled: not responding, disconnects fail at once and send nothing; answering again: back', async () => {
    const alice = (await occtl.users()).find((u) => u.userName === 'alice')!;
    const from = events.mark();
    lab.signal('SIGSTOP');
    try {
      await events.waitFor('responding', (e) => !e.responding, { from });
      const t0 = Date.now();
      await assert.rejects(
        adapter.disconnect({ ref: `${alice.id}:${alice.safeId}`, userName: 'alice', mode: 'HALT' }, 5_000),
        (e) => e instanceof GatewayUnavailableError && !e.mayTakeEffect,
      );
      assert.ok(Date.now() - t0 < 500, 'fails at once');
    } finally {
      lab.signal('SIGCONT');
    }
    await events.waitFor('responding', (e) => e.responding, { from });
    assert.ok(await occtl.user(alice.id), 'alice untouched');
    assert.equal(clients.alice!.exited, false);
  });

  test('ocserv stopping: link down at once, disconnects fail fast; restarted: a new instance, old tunnels ended as its restart', async () => {
    const before = (await occtl.users()).filter((u) => u.state === 'connected');
    const from = events.mark();
    await lab.stop();
    await events.waitFor('link-down', () => true, { from });
    assert.equal(adapter.isConnected(), false);
    const t0 = Date.now();
    await assert.rejects(
      adapter.disconnect(
        { ref: `${before[0]!.id}:${before[0]!.safeId}`, userName: before[0]!.userName, mode: 'HALT' },
        5_000,
      ),
      GatewayUnavailableError,
    );
    assert.ok(Date.now() - t0 < 1_000, 'fails fast');
    const ends = events.all('session.disconnected', from);
    assert.deepEqual(
      ends.map((e) => e.cause).sort(),
      before.map(() => 'GATEWAY_RESTART'),
    );
    const firstStart = events.all('snapshot').at(0)!.daemonStartedAt;
    await lab.start();
    const snap = await events.waitFor('snapshot', () => true, { from: events.mark() });
    assert.notEqual(snap.daemonStartedAt, null);
    assert.ok(snap.daemonStartedAt! >= firstStart!);
    await waitFor(() => adapter.isConnected(), 20_000, 'adapter linked again', 50);
  });
});
