/**
 * OpenVPN killed and restarted at once under its agent. The new daemon hands out the same Client IDs
 * (0, 1, 2 …) to the clients that reconnect. Expected: the old sessions are ended as GATEWAY_RESTART,
 * the reconnected clients get NEW session ids, an old session id never resolves to a new session (a
 * disconnect of it answers SESSION_NOT_FOUND and halts nobody), and the new ids end exactly their
 * own client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createAdapter } from '../../src/main.js';
import { silentLogger } from '../../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from '../support/openvpn-lab.js';
import { onlineIds } from '../support/api-client.js';
import { startApp, type AppHarness } from '../support/app-harness.js';
import { waitFor } from '../support/wait.js';

const skip = openvpnSkipReason();
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const GW = 'ovpn-restart';
const USERS = ['uma', 'vic', 'wes'];

let lab: OpenVpnLab;
let server: LabServer;
let h: AppHarness;
const clients = new Map<string, LabClient>();

const listed = () => onlineIds(h.gql, GW);

before(async () => {
  if (skip) return;
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: 'restart-mgmt-pw' });
  const adapter = createAdapter(
    server.gatewayConfig({ id: GW, name: 'Restart lab', region: 'lab', snapshotIntervalMs: 1000 }),
    silentLogger,
  );
  h = await startApp({ adapters: [adapter], env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
  for (const user of USERS) clients.set(user, await server.startClient({ user }));
});

after(async () => {
  await h?.close();
  await lab?.close();
});

for (let round = 1; round <= 3; round++) {
  test(
    `restart ${round}: reused Client IDs get new session ids; old ids resolve to nothing and halt nobody`,
    { skip, timeout: 90_000 },
    async () => {
      const old = await waitFor(
        async () => {
          const m = await listed();
          return USERS.every((u) => m.has(u)) ? m : null;
        },
        30_000,
        'all users online',
      );
      const marks = new Map(USERS.map((u) => [u, clients.get(u)!.logLength()]));

      // A crash and an immediate restart: the new instance may well start within the same second.
      server.signal('SIGKILL');
      await server.stop();
      await server.start();

      const fresh = await waitFor(
        async () => {
          const m = await listed();
          return USERS.every((u) => m.has(u) && m.get(u) !== old.get(u)) ? m : null;
        },
        45_000,
        'every client back online under a new session id',
      );
      for (const u of USERS) assert.notEqual(fresh.get(u), old.get(u));
      for (const [u, id] of old) {
        const s = await h.app.store.sessions.findById(id);
        assert.ok(s?.endedAt, `${u}'s old session ended`);
        assert.equal(s.endCause, 'GATEWAY_RESTART');
        const lookup = await h.gql('query ($id: String!) { onlineSession(id: $id) { id } }', { id });
        assert.equal(lookup.json.data?.onlineSession, null, `${u}'s old id resolves to nothing`);
        const r = await h.gql(SEED, { onlineSessionId: id });
        assert.equal(r.status, 400);
        assert.equal(r.json.errors?.[0]?.extensions?.code, 'SESSION_NOT_FOUND');
      }
      for (const u of USERS) {
        const c = clients.get(u)!;
        assert.equal(c.exited, false, `${u} still connected`);
        assert.ok(
          !/Halt command/.test(readFileSync(c.logPath, 'utf8').slice(marks.get(u))),
          `${u} was not halted by a disconnect of an old id`,
        );
      }
    },
  );
}

test('after the restarts, a new session id ends exactly its own client', { skip, timeout: 60_000 }, async () => {
  const now = await listed();
  const r = await h.gql(SEED, { onlineSessionId: now.get('vic') });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  await waitFor(() => clients.get('vic')!.exited, 15_000, 'vic halted');
  assert.equal(clients.get('uma')!.exited, false);
  assert.equal(clients.get('wes')!.exited, false);
});
