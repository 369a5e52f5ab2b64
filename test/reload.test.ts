/**
 * SIGHUP reloads the gateway file of a running `switchboard start` (a real process, two real OpenVPN
 * daemons with a real client each): a reload that swaps gateway A for gateway B lists B's client and
 * ends A's session as GATEWAY_REMOVED, with an audit row saying what changed; an invalid file changes
 * nothing, logs one error line and is audited as refused; the process never restarts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../src/store/kysely/kysely-store.js';
import { OpenVpnLab, openvpnSkipReason, type LabServer } from './support/openvpn-lab.js';
import { gql as gqlAt } from './support/api-client.js';
import { waitFor } from './support/wait.js';
import { SwitchboardProcess } from './support/switchboard-process.js';

const skip = openvpnSkipReason();
const ONLINE = 'query { onlineSessions(first: 50) { edges { node { id user { name } gateway { id } } } } }';
const AUDIT =
  'query { auditEvents(first: 10, filter: { action: "gateway.reload" }) { edges { node { outcome errorCode metadata } } } }';

describe('SIGHUP reloads the gateway file', { skip, timeout: 150_000 }, () => {
  let lab: OpenVpnLab;
  let a: LabServer;
  let b: LabServer;
  let p: SwitchboardProcess;
  let url: string;
  let token: string;
  let configFile: string;
  let dbPath: string;

  const entry = (id: string, s: LabServer) => ({
    id,
    name: `Reload ${id}`,
    region: 'lab',
    protocol: 'openvpn',
    mode: 'observe',
    management: s.management,
    managementPasswordFile: s.managementPasswordFile,
  });
  async function gql<T>(query: string): Promise<T> {
    return (await gqlAt(url, token, query)).json.data as T;
  }
  async function online(): Promise<{ id: string; user: { name: string }; gateway: { id: string } }[]> {
    return (
      await gql<{
        onlineSessions: { edges: { node: { id: string; user: { name: string }; gateway: { id: string } } }[] };
      }>(ONLINE)
    ).onlineSessions.edges.map((e) => e.node);
  }
  async function reloads(): Promise<{ outcome: string; errorCode: string | null; metadata: string }[]> {
    return (
      await gql<{
        auditEvents: { edges: { node: { outcome: string; errorCode: string | null; metadata: string } }[] };
      }>(AUDIT)
    ).auditEvents.edges.map((e) => e.node);
  }

  before(async () => {
    lab = await OpenVpnLab.create();
    a = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'reload-a-pw' });
    b = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'reload-b-pw' });
    await Promise.all([a.startClient({ user: 'alice' }), b.startClient({ user: 'bob' })]);
    configFile = join(lab.dir, 'gateways.json');
    dbPath = join(lab.dir, 'reload.db');
    writeFileSync(configFile, JSON.stringify({ gateways: [entry('gw-a', a)] }));
    p = SwitchboardProcess.start('switchboard (reload)', ['start'], {
      SWITCHBOARD_PORT: '0',
      SWITCHBOARD_DATABASE_URL: dbPath,
      SWITCHBOARD_CONFIG: configFile,
    });
    url = (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 60_000))[1]!;
    token = (await p.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
  });
  after(async () => {
    await p?.stop();
    await lab?.close();
  });

  test("a reload that swaps gateway A for B: B is served, A's session ends as GATEWAY_REMOVED, audited", async () => {
    const alice = await waitFor(
      async () => (await online()).find((s) => s.user.name === 'alice' && s.gateway.id === 'gw-a'),
      30_000,
      'alice on gw-a',
    );
    writeFileSync(configFile, JSON.stringify({ gateways: [entry('gw-b', b)] }));
    p.kill('SIGHUP');
    await waitFor(
      async () => (await online()).some((s) => s.user.name === 'bob' && s.gateway.id === 'gw-b'),
      30_000,
      'bob on gw-b',
    );
    await waitFor(async () => !(await online()).some((s) => s.id === alice.id), 10_000, 'alice no longer listed');
    assert.equal(p.running, true, 'the same process serves on');
    const [row] = await reloads();
    assert.equal(row?.outcome, 'SUCCESS');
    assert.deepEqual(JSON.parse(row!.metadata), { added: ['gw-b'], removed: ['gw-a'], changed: [] });

    const store = await openStore(dbPath);
    try {
      const ended = await store.sessions.findById(alice.id);
      assert.equal(ended?.endCause, 'GATEWAY_REMOVED');
    } finally {
      await store.close();
    }
  });

  test('an invalid file changes nothing: one error line, audited as refused, the running gateways stay', async () => {
    writeFileSync(configFile, '{ "gateways": [ { "id": "no such shape" } ] }');
    p.kill('SIGHUP');
    await p.waitForOutput(/gateway file not reloaded/);
    await waitFor(async () => (await reloads())[0]?.outcome === 'FAILED', 10_000, 'refused reload audited');
    assert.equal((await reloads())[0]?.errorCode, 'BAD_CONFIG');
    assert.ok(
      (await online()).some((s) => s.user.name === 'bob' && s.gateway.id === 'gw-b'),
      'bob still listed on gw-b',
    );
    assert.equal(p.running, true);
    assert.doesNotMatch(p.output(), /reload-a-pw|reload-b-pw/, 'no daemon password in the output');
  });
});
