import assert from 'node:assert/strict';
import { test } from 'node:test';
import { T0, freshGateway, makeGateway, makeSession, type ContractContext } from './fixtures.js';

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
    });
    assert.equal(await store.gateways.findById('gw-unknown'), null);
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

  test('list returns every gateway ordered by id', async () => {
    const store = ctx.store();
    const a = await freshGateway(store);
    const b = await freshGateway(store);
    const listed = (await store.gateways.list()).map((g) => g.id);
    assert.ok(listed.includes(a) && listed.includes(b));
    assert.deepEqual(listed, [...listed].sort());
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
