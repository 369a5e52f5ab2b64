/**
 * 1,000 concurrent disconnects spread over 50 REAL OpenVPN sessions (20 for each), with 10 more
 * sessions that nobody targets. Expected: each targeted session is ended exactly once (one `true`,
 * 19 SESSION_NOT_FOUND, one HALT seen by its client), no other session is touched, and every one of
 * the 1,000 attempts has exactly one audit record (the winner's a PENDING one, settled by a SUCCESS).
 *
 * Found on the way: with many clients connecting at once, a `status 3` read could list a client that
 * `>CLIENT:ESTABLISHED` had just announced without its virtual address yet, and observe mode ended
 * that live session in the store for good (see session-table.test.ts).
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
import { assertNoSecrets } from '../support/secret-scan.js';

const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const TARGETS = 50;
const BYSTANDERS = 10;
const ATTEMPTS = 1000;
const skip = openvpnSkipReason();
const GW = 'ovpn-race';

let lab: OpenVpnLab;
let server: LabServer;
let h: AppHarness;
const clients = new Map<string, LabClient>();

before(async () => {
  if (skip) return;
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: 'race-mgmt-pw' });
  const adapter = createAdapter(
    server.gatewayConfig({ id: GW, name: 'Race lab', region: 'lab', snapshotIntervalMs: 2000 }),
    silentLogger,
  );
  // Limits off: this is one client hammering on purpose.
  h = await startApp({
    adapters: [adapter],
    env: {
      SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0',
      SWITCHBOARD_RATE_LIMIT_PER_IP: '0',
      SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '20000',
    },
  });
  const users = [
    ...Array.from({ length: TARGETS }, (_, i) => `target${i}`),
    ...Array.from({ length: BYSTANDERS }, (_, i) => `bystander${i}`),
  ];
  for (let i = 0; i < users.length; i += 10) {
    const batch = users.slice(i, i + 10);
    const started = await Promise.all(batch.map((user) => server.startClient({ user })));
    batch.forEach((user, k) => clients.set(user, started[k]!));
  }
});

after(async () => {
  await h?.close();
  await lab?.close();
});

test(
  '1,000 concurrent disconnects over 50 real sessions: each ended once, bystanders untouched, every attempt audited once',
  { skip, timeout: 180_000 },
  async () => {
    const ids = await waitFor(
      async () => {
        const listed = await onlineIds(h.gql, GW);
        return listed.size === TARGETS + BYSTANDERS ? listed : null;
      },
      30_000,
      'all sessions listed',
    );
    const targetIds = Array.from({ length: TARGETS }, (_, i) => ids.get(`target${i}`)!);
    const bystanderIds = Array.from({ length: BYSTANDERS }, (_, i) => ids.get(`bystander${i}`)!);

    const replies = await Promise.all(
      Array.from({ length: ATTEMPTS }, (_, k) => h.gql(SEED, { onlineSessionId: targetIds[k % TARGETS] })),
    );

    const perTarget = new Map<string, { ok: number; notFound: number; other: string[] }>(
      targetIds.map((id) => [id, { ok: 0, notFound: 0, other: [] }]),
    );
    replies.forEach((r, k) => {
      const tally = perTarget.get(targetIds[k % TARGETS]!)!;
      if (r.status === 200 && r.json.data?.disconnectBySessionId === true) tally.ok++;
      else if (r.status === 400 && r.json.errors?.[0]?.extensions?.code === 'SESSION_NOT_FOUND') tally.notFound++;
      else tally.other.push(`${r.status} ${r.text.slice(0, 200)}`);
    });
    for (const [id, t] of perTarget) {
      assert.deepEqual(t.other, [], `${id}: only true or SESSION_NOT_FOUND`);
      assert.equal(t.ok, 1, `${id}: exactly one true`);
      assert.equal(t.notFound, ATTEMPTS / TARGETS - 1);
    }

    for (const id of targetIds) {
      const s = await h.app.store.sessions.findById(id);
      assert.ok(s?.endedAt, `${id} ended`);
      assert.equal(s.endCause, 'ADMIN_DISCONNECT');
    }
    // Each targeted client was told to halt once and went down; every bystander is still connected.
    for (let i = 0; i < TARGETS; i++) {
      const c = clients.get(`target${i}`)!;
      await waitFor(() => c.exited, 15_000, `target${i} exits`);
      const halts = readFileSync(c.logPath, 'utf8').match(/Halt command was pushed by server/g) ?? [];
      assert.equal(halts.length, 1, `target${i} got one HALT`);
    }
    for (let i = 0; i < BYSTANDERS; i++) {
      const c = clients.get(`bystander${i}`)!;
      assert.equal(c.exited, false, `bystander${i} still running`);
      assert.ok(
        !/Halt command|Connection reset command/.test(readFileSync(c.logPath, 'utf8')),
        `bystander${i} was never told to go`,
      );
      assert.ok(await h.app.store.sessions.findOnline(bystanderIds[i]!), `bystander${i} still online in the store`);
    }

    const total = await h.app.store.audit.count({ action: 'session.disconnect' });
    // One record per attempt, plus each winner's intent: PENDING before the gateway was asked, settled by its SUCCESS.
    assert.equal(total, ATTEMPTS + TARGETS, 'one audit record per attempt, and one PENDING per kill sent');
    for (const id of targetIds) {
      assert.equal(await h.app.store.audit.count({ targetSessionId: id }), ATTEMPTS / TARGETS + 1, `${id}: 21 records`);
      assert.equal(await h.app.store.audit.count({ targetSessionId: id, outcome: 'PENDING' }), 1, `${id}: one PENDING`);
      assert.equal(await h.app.store.audit.count({ targetSessionId: id, outcome: 'SUCCESS' }), 1, `${id}: one SUCCESS`);
    }
    for (const id of bystanderIds) assert.equal(await h.app.store.audit.count({ targetSessionId: id }), 0);
    assertNoSecrets(h.logs, [h.admin, 'race-mgmt-pw'], 'disconnect race');
  },
);
