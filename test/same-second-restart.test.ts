/**
 * A daemon killed and started again within the same second: the new process reports the same
 * instance time, and its Client IDs start at 0 again, so its sessions get the refs the old ones had.
 * Expected, through the whole server (adapter, sync, store, API): the old sessions end as
 * GATEWAY_RESTART, the reconnected clients are listed under new session ids, and the old ids resolve
 * to nothing. A management stand-in plays the daemon because only it can be restarted within a
 * chosen second on cue; test/chaos/openvpn-restart.test.ts does the same with real OpenVPN, where
 * the second is a matter of luck.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagementStandin } from '../bench/lib/management-standin.js';
import { silentLogger } from '../src/domain/logger.js';
import { createAdapter } from '../src/main.js';
import { onlineIds } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const GW = 'gw-same-second';
const dir = mkdtempSync(join(tmpdir(), 'sb-same-second-'));
let standin: ManagementStandin;
let h: AppHarness;

const listed = () => onlineIds(h.gql, GW);

before(async () => {
  standin = await ManagementStandin.start(join(dir, 'mgmt.sock'));
  standin.addClients(3);
  const adapter = createAdapter(standin.gatewayConfig({ id: GW, name: 'Same second' }), silentLogger);
  h = await startApp({ adapters: [adapter] });
});

after(async () => {
  await h?.close();
  await standin?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('killed and restarted within the same second: old sessions end as GATEWAY_RESTART, the new ones are listed under new ids', async () => {
  const old = await waitFor(
    async () => {
      const m = await listed();
      return m.size === 3 ? m : null;
    },
    10_000,
    'the three sessions',
  );
  const instance = standin.instance;

  standin.restart({ sameSecond: true });
  assert.equal(standin.instance, instance, 'the new process reports the same instance time');
  // The same users come back under the same Client IDs (0, 1, 2), so under the same refs. They
  // connect after the old sessions did (reconnecting takes the clients a second or more).
  await new Promise((r) => setTimeout(r, 1_100 - (Date.now() % 1000)));
  await waitFor(() => standin.connections > 0, 10_000, 'the adapter back on the new process');
  standin.addClients(3, true);

  const fresh = await waitFor(
    async () => {
      const m = await listed();
      return m.size === 3 && [...m].every(([u, id]) => old.has(u) && old.get(u) !== id) ? m : null;
    },
    10_000,
    'the reconnected clients under new session ids',
  );
  assert.deepEqual([...fresh.keys()].sort(), [...old.keys()].sort());
  for (const [user, id] of old) {
    const s = await h.app.store.sessions.findById(id);
    assert.ok(s?.endedAt, `${user}'s old session ended`);
    assert.equal(s.endCause, 'GATEWAY_RESTART');
    const r = await h.gql('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id });
    assert.equal(r.status, 400);
    assert.equal(r.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND');
  }
  assert.equal(standin.kills, 0, 'a disconnect of an old id reached no client');

  // A new id still ends exactly its own client.
  const [user, id] = [...fresh][0]!;
  const r = await h.gql('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', { id });
  assert.deepEqual(r.json, { data: { disconnectBySessionId: true } });
  assert.equal(standin.kills, 1);
  const after = await listed();
  assert.equal(after.has(user), false);
  assert.equal(after.size, 2);
});
