/**
 * `kill -9` of the Switchboard process (SQLite store) in the middle of a storm of disconnects against
 * a REAL OpenVPN gateway, then a restart on the same database. Expected:
 * - every disconnect that answered `true` before the kill has its SUCCESS audit record and its session
 *   ended as ADMIN_DISCONNECT (an answer is only given after the commit);
 * - every SUCCESS audit record belongs to a session that is ended;
 * - once the restarted server has reconciled with the daemon, the sessions online in the store are
 *   exactly the clients still connected (those killed while the server died are ended, none revived).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/store/kysely/kysely-store.js';
import { apiClient, gql, onlineIds } from '../support/api-client.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from '../support/openvpn-lab.js';
import { SwitchboardProcess } from '../support/switchboard-process.js';
import { waitFor } from '../support/wait.js';
import { assertNoSecrets } from '../support/secret-scan.js';

const skip = openvpnSkipReason();
const SEED =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const GW = 'ovpn-kill9';
const CLIENTS = 30;
const ATTEMPTS_PER_SESSION = 3;

let lab: OpenVpnLab;
let server: LabServer;
const procs: SwitchboardProcess[] = [];
const clients = new Map<string, LabClient>();
let env: Record<string, string>;
let dbPath: string;

const start = async (name: string) => {
  const p = SwitchboardProcess.start(name, ['start'], env);
  procs.push(p);
  const url = (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
  return { p, url };
};

const online = (url: string, token: string) => onlineIds(apiClient(url, token), GW);

before(async () => {
  if (skip) return;
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'observe', managementPassword: 'kill9-mgmt-pw' });
  const configFile = join(lab.dir, 'gateways.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      gateways: [
        {
          id: GW,
          name: 'Kill -9 lab',
          region: 'lab',
          protocol: 'openvpn',
          mode: 'observe',
          management: server.management,
          managementPasswordFile: server.managementPasswordFile,
          snapshotIntervalSeconds: 1,
        },
      ],
    }),
  );
  dbPath = join(lab.dir, 'switchboard.db');
  env = {
    SWITCHBOARD_PORT: '0',
    SWITCHBOARD_DATABASE_URL: dbPath,
    SWITCHBOARD_CONFIG: configFile,
    SWITCHBOARD_LOG_LEVEL: 'info',
    SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0',
    SWITCHBOARD_RATE_LIMIT_PER_IP: '0',
  };
  for (let i = 0; i < CLIENTS; i += 10) {
    const users = Array.from({ length: Math.min(10, CLIENTS - i) }, (_, k) => `storm${i + k}`);
    const started = await Promise.all(users.map((user) => server.startClient({ user })));
    users.forEach((u, k) => clients.set(u, started[k]!));
  }
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await lab?.close();
});

test(
  'kill -9 during a disconnect storm: every true is recorded and ended; after restart the store matches the daemon',
  { skip, timeout: 120_000 },
  async () => {
    const first = await start('switchboard (before kill)');
    const admin = (await first.p.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m))[1]!;
    const ids = await waitFor(
      async () => {
        const m = await online(first.url, admin);
        return m.size === CLIENTS ? m : null;
      },
      30_000,
      'all sessions online',
    );

    const trues = new Set<string>();
    let answered = 0;
    let killed = false;
    const attempts = [...ids.values()].flatMap((id) => Array.from({ length: ATTEMPTS_PER_SESSION }, () => id));
    const storm = attempts.map(async (id) => {
      try {
        const r = await gql(first.url, admin, SEED, { onlineSessionId: id });
        if (r.status === 200 && r.json.data?.disconnectBySessionId === true) trues.add(id);
        answered++;
      } catch {
        // The server died under this request: its outcome is unknown to the caller.
      }
      // Kill once a few disconnects have succeeded and many are still in flight.
      if (!killed && trues.size >= 5) {
        killed = true;
        first.p.kill('SIGKILL');
      }
    });
    await Promise.all(storm);
    await first.p.waitExited();
    assert.ok(killed, 'the server was killed mid-storm');
    assert.ok(answered < attempts.length, `some requests were cut off (${answered} of ${attempts.length} answered)`);
    assert.ok(trues.size >= 5);

    const second = await start('switchboard (after restart)');
    const store = await openStore(dbPath);
    try {
      for (const id of trues) {
        const s = await store.sessions.findById(id);
        assert.ok(s?.endedAt, `${id} answered true, so it is ended`);
        assert.equal(s.endCause, 'ADMIN_DISCONNECT');
        assert.equal(
          await store.audit.count({ targetSessionId: id, outcome: 'SUCCESS' }),
          1,
          `${id} has its SUCCESS audit record`,
        );
      }
      for (const id of ids.values()) {
        const successes = await store.audit.count({ targetSessionId: id, outcome: 'SUCCESS' });
        assert.ok(successes <= 1, `${id}: at most one success`);
        if (successes === 1)
          assert.equal(
            (await store.sessions.findById(id))?.endCause,
            'ADMIN_DISCONNECT',
            `${id}: audited success, so ended by an admin`,
          );
      }
      // Reconciled with the daemon: online in the store ⇔ client still connected.
      await waitFor(
        async () => {
          const still = [...clients]
            .filter(([, c]) => !c.exited)
            .map(([u]) => u)
            .sort();
          const listed = [...(await online(second.url, admin)).keys()].sort();
          return JSON.stringify(still) === JSON.stringify(listed);
        },
        30_000,
        'the store to match the daemon',
      );
      for (const [user, id] of ids) {
        const s = await store.sessions.findById(id);
        assert.equal(
          s?.endedAt !== null,
          clients.get(user)!.exited,
          `${user}: ended in the store exactly when its client is gone`,
        );
      }
    } finally {
      await store.close();
    }
    for (const p of procs) assertNoSecrets(p.output(), [admin, 'kill9-mgmt-pw', 'pw-storm'], p.name);
  },
);
