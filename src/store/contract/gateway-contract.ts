import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { T0, freshGateway, kysely, makeGateway, makeSession, type ContractContext } from './fixtures.js';

/** Gateways: upsert from config, agent status, online counts. */
export function gatewayContract(ctx: ContractContext): void {
  test('upsert inserts, then updates config fields and keeps the agent status', async () => {
    const store = ctx.store();
    const gateway = makeGateway();
    await store.gateways.upsert(gateway);
    assert.deepEqual(await store.gateways.findById(gateway.id), {
      ...gateway,
      agentConnected: false,
      lastSeenAt: null,
      daemonStartedAt: null,
      canBlock: false,
      warning: null,
      daemonResponding: true,
      statusSince: null,
      lastError: null,
      lastErrorAt: null,
      removedAt: null,
    });

    await store.gateways.setAgentStatus(gateway.id, {
      agentConnected: true,
      lastSeenAt: T0 + 5,
      daemonStartedAt: T0 - 1000,
    });
    await store.gateways.upsert({ ...gateway, name: 'Renamed', region: 'us-east', mode: 'authorize' });
    assert.deepEqual(await store.gateways.findById(gateway.id), {
      ...gateway,
      name: 'Renamed',
      region: 'us-east',
      mode: 'authorize',
      agentConnected: true,
      lastSeenAt: T0 + 5,
      daemonStartedAt: T0 - 1000,
      canBlock: false,
      warning: null,
      daemonResponding: true,
      statusSince: T0 + 5,
      lastError: null,
      lastErrorAt: null,
      removedAt: null,
    });
    assert.equal(await store.gateways.findById('gw-unknown'), null);
  });

  test('claimSnapshot is true once per snapshot mark of a gateway, false again and for no gateway', async () => {
    const store = ctx.store();
    const gateway = makeGateway();
    await store.gateways.upsert(gateway);
    assert.equal(await store.gateways.claimSnapshot(gateway.id, 'agt_a:1:100'), true);
    assert.equal(await store.gateways.claimSnapshot(gateway.id, 'agt_a:1:100'), false, 'applied already');
    assert.equal(await store.gateways.claimSnapshot(gateway.id, 'agt_a:2:200'), true);
    assert.equal(
      await store.gateways.claimSnapshot(gateway.id, 'agt_a:1:100'),
      true,
      'an older one again is not the last',
    );
    assert.equal(await store.gateways.claimSnapshot('gw-unknown', 'agt_a:1:100'), false);
    // Rolled back with its transaction: the next replica applies it.
    await assert.rejects(
      store.transaction(async (tx) => {
        assert.equal(await tx.gateways.claimSnapshot(gateway.id, 'agt_a:3:300'), true);
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.equal(await store.gateways.claimSnapshot(gateway.id, 'agt_a:3:300'), true);
  });

  test('findByIds returns the gateways that exist among the ids, as findById does each', async () => {
    const store = ctx.store();
    const [a, b] = [makeGateway(), makeGateway()];
    await store.gateways.upsert(a);
    await store.gateways.upsert(b);
    await store.gateways.setAgentStatus(b.id, { agentConnected: true, lastSeenAt: T0 + 7 });
    const found = await store.gateways.findByIds([b.id, 'gw-unknown', a.id, b.id]);
    const byId = new Map(found.map((g) => [g.id, g]));
    assert.deepEqual([...byId.keys()].sort(), [a.id, b.id].sort());
    assert.deepEqual(byId.get(a.id), await store.gateways.findById(a.id));
    assert.deepEqual(byId.get(b.id), await store.gateways.findById(b.id));
    assert.equal(byId.get(b.id)?.lastSeenAt, T0 + 7);
    assert.deepEqual(await store.gateways.findByIds([]), []);
    assert.deepEqual(await store.gateways.findByIds(['gw-unknown']), []);
  });

  test('upsert of what the row holds already writes no new row version (PostgreSQL), but still locks it', async () => {
    const store = ctx.store();
    const gateway = { ...makeGateway(), canBlock: true, warning: null };
    await store.gateways.upsert(gateway);
    if (store.dialect !== 'postgres') {
      await store.gateways.upsert(gateway);
      assert.equal((await store.gateways.findById(gateway.id))?.canBlock, true);
      return;
    }
    const db = kysely(store).db;
    const version = async () =>
      (await sql<{ v: string }>`select xmin::text as v from gateways where id = ${gateway.id}`.execute(db)).rows[0]!.v;
    const before = await version();
    await store.gateways.upsert(gateway);
    await store.gateways.upsert({
      id: gateway.id,
      name: gateway.name,
      region: gateway.region,
      protocol: gateway.protocol,
      mode: gateway.mode,
    });
    assert.equal(await version(), before, 'an identical upsert (with or without capabilities) leaves the row as it is');
    // The row is locked all the same: a second transaction's update of it waits for the first to end.
    let released = false;
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const waiting = store.transaction(async (tx) => {
      await tx.gateways.upsert(gateway);
      locked();
      await new Promise((r) => setTimeout(r, 200));
      released = true;
    });
    await holding;
    await store.gateways.setAgentStatus(gateway.id, { agentConnected: true, lastSeenAt: T0 });
    assert.equal(released, true, 'the update waited for the transaction holding the row');
    await waiting;
    await store.gateways.upsert({ ...gateway, warning: 'changed' });
    assert.notEqual(await version(), before, 'a changed field is written');
    assert.equal((await store.gateways.findById(gateway.id))?.warning, 'changed');
  });

  test('upsert: capabilities from an agent are stored; an upsert without them (the config file) keeps them', async () => {
    const store = ctx.store();
    const gateway = makeGateway({ mode: 'authorize' });
    await store.gateways.upsert({ ...gateway, canBlock: true, warning: null });
    assert.deepEqual(pick(await store.gateways.findById(gateway.id)), { canBlock: true, warning: null });
    await store.gateways.upsert(gateway);
    assert.deepEqual(pick(await store.gateways.findById(gateway.id)), { canBlock: true, warning: null }, 'kept');
    await store.gateways.upsert({
      ...gateway,
      canBlock: false,
      warning: 'the daemon does not run management-client-auth',
    });
    assert.deepEqual(pick(await store.gateways.findById(gateway.id)), {
      canBlock: false,
      warning: 'the daemon does not run management-client-auth',
    });
    await store.gateways.upsert({ ...gateway, canBlock: true });
    assert.deepEqual(
      pick(await store.gateways.findById(gateway.id)),
      { canBlock: true, warning: null },
      'a report without a warning clears it',
    );
  });

  test('setAgentStatus: daemonStartedAt left out keeps the stored value, null clears it', async () => {
    const store = ctx.store();
    const id = await freshGateway(store);
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0, daemonStartedAt: T0 - 5 });
    await store.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: T0 + 1 });
    let g = await store.gateways.findById(id);
    assert.deepEqual([g?.agentConnected, g?.lastSeenAt, g?.daemonStartedAt], [false, T0 + 1, T0 - 5]);
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 2, daemonStartedAt: null });
    g = await store.gateways.findById(id);
    assert.deepEqual([g?.agentConnected, g?.lastSeenAt, g?.daemonStartedAt], [true, T0 + 2, null]);
  });

  test('setAgentStatus: daemonResponding is stored when given and kept when left out', async () => {
    const store = ctx.store();
    const id = await freshGateway(store);
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0, daemonResponding: false });
    assert.equal((await store.gateways.findById(id))?.daemonResponding, false);
    await store.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: T0 + 1 });
    assert.equal(
      (await store.gateways.findById(id))?.daemonResponding,
      false,
      'a link-down report says nothing about the probe',
    );
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 2, daemonResponding: true });
    assert.equal((await store.gateways.findById(id))?.daemonResponding, true);
  });

  test('setAgentStatus: statusSince moves only when the link state or responding changes', async () => {
    const store = ctx.store();
    const id = await freshGateway(store);
    const since = async () => (await store.gateways.findById(id))?.statusSince;
    assert.equal(await since(), null, 'nothing recorded yet');
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0, daemonResponding: true });
    assert.equal(await since(), T0, 'the first status starts it');
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 5, daemonResponding: true });
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 6 });
    assert.equal(await since(), T0, 'heartbeats that change nothing keep it');
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 7, daemonResponding: false });
    assert.equal(await since(), T0 + 7, 'the daemon stopped answering');
    await store.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: T0 + 8 });
    assert.equal(await since(), T0 + 8, 'the link went down');
    await store.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: T0 + 9, daemonResponding: false });
    assert.equal(await since(), T0 + 8, 'still down');
  });

  test('recordHeartbeat: upsert and setAgentStatus in one statement, for a new gateway and a known one', async () => {
    const store = ctx.store();
    const gateway = makeGateway();
    const beat = { agentConnected: true, lastSeenAt: T0, daemonResponding: true };
    await store.gateways.recordHeartbeat({ ...gateway, canBlock: true, warning: null }, beat);
    assert.deepEqual(await store.gateways.findById(gateway.id), {
      ...gateway,
      agentConnected: true,
      lastSeenAt: T0,
      daemonStartedAt: null,
      canBlock: true,
      warning: null,
      daemonResponding: true,
      statusSince: T0,
      lastError: null,
      lastErrorAt: null,
      removedAt: null,
    });
    await store.gateways.setAgentStatus(gateway.id, { ...beat, lastSeenAt: T0 + 1, daemonStartedAt: T0 - 9 });
    await store.gateways.recordHeartbeat({ ...gateway, name: 'Renamed' }, { ...beat, lastSeenAt: T0 + 5 });
    let g = await store.gateways.findById(gateway.id);
    assert.deepEqual(
      [g?.name, g?.canBlock, g?.daemonStartedAt, g?.lastSeenAt, g?.statusSince],
      ['Renamed', true, T0 - 9, T0 + 5, T0],
      'descriptor rewritten, capabilities and daemon start kept, statusSince kept while nothing changes',
    );
    await store.gateways.recordHeartbeat(gateway, { ...beat, lastSeenAt: T0 + 6, daemonResponding: false });
    g = await store.gateways.findById(gateway.id);
    assert.deepEqual([g?.daemonResponding, g?.statusSince], [false, T0 + 6], 'responding changed');
    await store.gateways.recordHeartbeat(gateway, {
      agentConnected: false,
      lastSeenAt: T0 + 7,
      daemonResponding: false,
    });
    g = await store.gateways.findById(gateway.id);
    assert.deepEqual([g?.agentConnected, g?.statusSince], [false, T0 + 7], 'the link went down');
    await store.gateways.recordHeartbeat(gateway, {
      agentConnected: false,
      lastSeenAt: T0 + 8,
      daemonResponding: false,
    });
    assert.equal((await store.gateways.findById(gateway.id))?.statusSince, T0 + 7, 'still down');
    // The same statement again with other capabilities and status: each call's own values are written.
    await store.gateways.recordHeartbeat(
      { ...gateway, canBlock: false, warning: 'mismatch' },
      { ...beat, lastSeenAt: T0 + 9 },
    );
    g = await store.gateways.findById(gateway.id);
    assert.deepEqual(
      [g?.canBlock, g?.warning, g?.agentConnected, g?.daemonResponding, g?.lastSeenAt, g?.statusSince],
      [false, 'mismatch', true, true, T0 + 9, T0 + 9],
    );
  });

  test('recordError: the last error and when it began; a repeat while unhealthy keeps its first time', async () => {
    const store = ctx.store();
    const id = await freshGateway(store);
    const last = async () => {
      const g = await store.gateways.findById(id);
      return [g?.lastError, g?.lastErrorAt];
    };
    assert.deepEqual(await last(), [null, null]);
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0, daemonResponding: true });
    await store.gateways.recordError(id, 'connect ECONNREFUSED', T0 + 1);
    await store.gateways.setAgentStatus(id, { agentConnected: false, lastSeenAt: T0 + 1 });
    await store.gateways.recordError(id, 'connect ECONNREFUSED', T0 + 2);
    assert.deepEqual(await last(), ['connect ECONNREFUSED', T0 + 1], 'the same error again, still down');
    await store.gateways.recordError(id, 'socket closed', T0 + 3);
    assert.deepEqual(await last(), ['socket closed', T0 + 3], 'another error');
    await store.gateways.setAgentStatus(id, { agentConnected: true, lastSeenAt: T0 + 4, daemonResponding: true });
    assert.deepEqual(await last(), ['socket closed', T0 + 3], 'kept after recovery');
    await store.gateways.recordError(id, 'socket closed', T0 + 5);
    assert.deepEqual(await last(), ['socket closed', T0 + 5], 'the same error after a recovery is a new one');
    // Text is stored as given, quotes and all (no SQL is built from it).
    await store.gateways.recordError(id, "it's down; DROP TABLE gateways", T0 + 6);
    assert.deepEqual(await last(), ["it's down; DROP TABLE gateways", T0 + 6]);
  });

  test('list returns every gateway (not removed) ordered by id', async () => {
    const store = ctx.store();
    const a = await freshGateway(store);
    const b = await freshGateway(store);
    const listed = (await store.gateways.list()).map((g) => g.id);
    assert.ok(listed.includes(a) && listed.includes(b));
    assert.deepEqual(listed, [...listed].sort());
  });

  test('setRemoved: a removed gateway is not listed and heartbeats leave it alone, until it is declared again', async () => {
    const store = ctx.store();
    const gateway = makeGateway();
    const beat = { agentConnected: true, lastSeenAt: T0, daemonResponding: true };
    assert.equal(await store.gateways.recordHeartbeat(gateway, beat), true, 'a beat of a new gateway writes it');
    await store.gateways.setAgentStatus(gateway.id, { agentConnected: false, lastSeenAt: T0 + 1 });
    await store.gateways.setRemoved(gateway.id, T0 + 1);
    await store.gateways.setRemoved(gateway.id, T0 + 2);
    assert.equal((await store.gateways.findById(gateway.id))?.removedAt, T0 + 1, 'the first removal time is kept');
    assert.ok(!(await store.gateways.list()).some((g) => g.id === gateway.id), 'not listed');
    assert.equal(
      await store.gateways.recordHeartbeat({ ...gateway, name: 'Back?' }, { ...beat, lastSeenAt: T0 + 3 }),
      false,
    );
    let g = await store.gateways.findById(gateway.id);
    assert.deepEqual(
      [g?.agentConnected, g?.lastSeenAt, g?.name, g?.statusSince],
      [false, T0 + 1, gateway.name, T0 + 1],
      'the beat wrote nothing',
    );
    assert.equal((await store.gateways.findByIds([gateway.id])).length, 1, 'still found by id (its sessions name it)');
    await store.gateways.setRemoved(gateway.id, null);
    assert.ok(
      (await store.gateways.list()).some((g) => g.id === gateway.id),
      'listed again',
    );
    assert.equal(await store.gateways.recordHeartbeat(gateway, { ...beat, lastSeenAt: T0 + 4 }), true);
    g = await store.gateways.findById(gateway.id);
    assert.deepEqual([g?.agentConnected, g?.lastSeenAt, g?.removedAt], [true, T0 + 4, null], 'beats count again');
  });

  test('onlineCounts: online sessions per gateway; none online means absent', async () => {
    const store = ctx.store();
    const busy = await freshGateway(store);
    const quiet = await freshGateway(store);
    const idle = await freshGateway(store);
    const sessions = [makeSession(busy), makeSession(busy), makeSession(busy), makeSession(quiet), makeSession(idle)];
    for (const s of sessions) await store.sessions.insertIfAbsent(s);
    await store.sessions.markEnded(sessions[0]!.id, { endedAt: T0 + 1, cause: 'CLIENT_DISCONNECT' });
    await store.sessions.markEnded(sessions[4]!.id, { endedAt: T0 + 1, cause: 'GATEWAY_RESTART' });
    const counts = await store.gateways.onlineCounts();
    assert.equal(counts.get(busy), 2);
    assert.equal(counts.get(quiet), 1);
    assert.equal(counts.has(idle), false);
  });
}

function pick(
  g: { canBlock: boolean; warning: string | null } | null,
): { canBlock: boolean; warning: string | null } | null {
  return g ? { canBlock: g.canBlock, warning: g.warning } : null;
}
