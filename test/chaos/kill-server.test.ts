/**
 * `kill -9` of the Switchboard process (SQLite store) in the middle of a storm of disconnects against
 * a REAL OpenVPN gateway, then a restart on the same database. Expected:
 * - every disconnect that answered `true` before the kill has its SUCCESS audit record and its session
 *   ended as ADMIN_DISCONNECT (an answer is only given after the commit);
 * - every SUCCESS audit record belongs to a session that is ended;
 * - once the restarted server has reconciled with the daemon, the sessions online in the store are
 *   exactly the clients still connected (those killed while the server died are ended, none revived);
 * - every kill the daemon ran is recorded as the operator's, whether or not its caller got an answer:
 *   ADMIN_DISCONNECT with the actor, its intent DONE, one SUCCESS audit row, one `session.disconnected`
 *   event, published. No client here leaves by itself, so every client that exited was killed on our
 *   order. The daemon runs in authorize mode, so it reports each end at once (`>CLIENT:DISCONNECT`):
 *   sync's settlement from that report races the kill's reply, and the kill -9 can land in the
 *   hand-off between them (sync settled the intent, the answer that would take it was never sent).
 *   The log line says how many ends each side settled.
 * The storm is queued at a stopped server and the server is stopped again (SIGSTOP) the moment the
 * store holds an end DONE, then killed: nothing is answered between seeing the trigger and the kill,
 * on a quiet machine or a loaded one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openStore } from '../../src/store/kysely/kysely-store.js';
import { apiClient, gqlSent, onlineIds, waitLinked } from '../support/api-client.js';
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
  // A minute, as the replica tests allow: under a load of 60 a restart printed nothing in 20 s.
  const url = (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/, 60_000))[1]!;
  return { p, url };
};

const online = (url: string, token: string) => onlineIds(apiClient(url, token), GW);

before(async () => {
  if (skip) return;
  lab = await OpenVpnLab.create();
  server = await lab.startServer({ proto: 'tcp4', mode: 'authorize', managementPassword: 'kill9-mgmt-pw' });
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
          mode: 'authorize',
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
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await lab?.close();
});

test(
  'kill -9 during a disconnect storm: every true is recorded and ended; after restart the store matches the daemon',
  { skip, timeout: 240_000 },
  async () => {
    const first = await start('switchboard (before kill)');
    const admin = (await first.p.waitForOutput(/^\s{4}(sbt_[a-z0-9_]+)$/m, 60_000))[1]!;
    // Authorize mode: clients get in only once Switchboard answers for the daemon, so they start once it
    // holds the management link (listening is not linked: a CONNECT sent before would go unanswered).
    await waitLinked(apiClient(first.url, admin), GW);
    for (let i = 0; i < CLIENTS; i += 10) {
      const users = Array.from({ length: Math.min(10, CLIENTS - i) }, (_, k) => `storm${i + k}`);
      const started = await Promise.all(users.map((user) => server.startClient({ user })));
      users.forEach((u, k) => clients.set(u, started[k]!));
    }
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
    const attempts = [...ids.values()].flatMap((id) => Array.from({ length: ATTEMPTS_PER_SESSION }, () => id));
    // The whole storm is queued at a stopped server (SIGSTOP), so that the test is not still sending
    // while the server answers. Then the server runs until the store holds one more end DONE, and is
    // stopped at once: the test polls the store without yielding, as a test process starved of CPU reads
    // answers (or sleeps) long after they were given, and the grouped commits answer many in one turn.
    // Stopped, it answers nothing more; the answers it gave are read, and it is killed (SIGKILL) once
    // two callers heard `true` while kills it ordered are still unsettled, preferably with an end DONE
    // whose caller has not heard (the window after the commit). Otherwise it runs again.
    const intents = new Database(dbPath, { readonly: true });
    const withStatus = intents.prepare('select count(*) from disconnect_intents where status = ?').pluck();
    const count = (status: 'DONE' | 'PENDING') => withStatus.get(status) as number;
    await first.p.pause();
    const storm = attempts.map((id) => {
      const r = gqlSent(first.url, admin, SEED, { onlineSessionId: id });
      const reply = r.reply.then(
        (res) => {
          if (res.status === 200 && res.json.data?.disconnectBySessionId === true) trues.add(id);
          answered++;
        },
        () => {
          // The server died under this request: its outcome is unknown to the caller.
        },
      );
      return { sent: r.sent, reply };
    });
    await Promise.all(storm.map((x) => x.sent));
    const finished = Promise.all(storm.map((x) => x.reply));
    const atKill = { done: 0, pending: 0, heard: 0, steps: 0 };
    for (let next = 1; ;) {
      first.p.resume();
      // With a kill still unsettled too: the server may order them one at a time, and a stop just
      // after one end and before the next intent would leave nothing in flight to kill it during.
      const held = await first.p.pauseWhen(() => count('DONE') >= next && count('PENDING') > 0, 60_000);
      // Read the answers it wrote before it stopped (in this process's sockets already).
      for (let seen = -1; seen !== answered;) {
        seen = answered;
        await new Promise((r) => setTimeout(r, 10));
      }
      atKill.done = count('DONE');
      atKill.pending = count('PENDING');
      atKill.heard = trues.size;
      atKill.steps++;
      // Best, an end committed that its caller has not heard of; failing that, by a third of the sessions.
      const window = atKill.done > trues.size || atKill.done >= CLIENTS / 3;
      if (!held || (trues.size >= 2 && atKill.pending > 0 && window) || atKill.done === CLIENTS) break;
      next = atKill.done + 1;
    }
    first.p.kill('SIGKILL');
    intents.close();
    await finished;
    await first.p.waitExited();
    assert.ok(
      atKill.pending > 0,
      `kills were in flight at the kill (${atKill.pending} intents PENDING, ${atKill.done} DONE, ${atKill.steps} stops)`,
    );
    assert.ok(answered < attempts.length, `some requests were cut off (${answered} of ${attempts.length} answered)`);
    assert.ok(trues.size >= 2);

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
      // The record never lies: each executed kill is the operator's, answered or not.
      const executed = [...ids].filter(([user]) => clients.get(user)!.exited).map(([, id]) => id);
      assert.ok(executed.length >= trues.size);
      const unanswered = executed.filter((id) => !trues.has(id)).length;
      const raw = new Database(dbPath, { readonly: true });
      const intents = (id: string) =>
        raw.prepare('select status from disconnect_intents where session_id = ?').pluck().all(id) as string[];
      try {
        for (const id of executed) {
          const s = (await store.sessions.findById(id))!;
          assert.deepEqual(
            [s.endCause, s.endedByName],
            ['ADMIN_DISCONNECT', 'bootstrap-admin'],
            `${id}: its kill ran, so it ended as the operator's (${trues.has(id) ? 'answered true' : 'unanswered'})`,
          );
          assert.equal(await store.audit.count({ targetSessionId: id, outcome: 'SUCCESS' }), 1, `${id}: one SUCCESS`);
          assert.deepEqual(intents(id), ['DONE'], `${id}: its one intent settled DONE`);
        }
        for (const [user, id] of ids) {
          if (!clients.get(user)!.exited)
            assert.ok(!intents(id).includes('DONE'), `${user} is connected: no intent DONE`);
        }
        // One session.disconnected event per executed kill, published by the restarted server's relay.
        const published = () =>
          (
            raw.prepare("select payload, published_at from event_outbox where type = 'session.disconnected'").all() as {
              payload: string;
              published_at: number | null;
            }[]
          ).map((r) => ({
            ...(JSON.parse(r.payload) as { session: { id: string; endCause: string } }),
            at: r.published_at,
          }));
        const events = await waitFor(
          () => {
            const all = published().filter((e) => executed.includes(e.session.id));
            return all.length === executed.length && all.every((e) => e.at !== null) ? all : null;
          },
          20_000,
          'one published event per executed kill',
        );
        assert.ok(events.every((e) => e.session.endCause === 'ADMIN_DISCONNECT'));
        const settledBy = raw
          .prepare(
            "select json_extract(metadata, '$.confirmedBy') from audit_events where outcome = 'SUCCESS' and target_session_id in (select value from json_each(?))",
          )
          .pluck()
          .all(JSON.stringify(executed)) as string[];
        const byReport = settledBy.filter((by) => by === 'DAEMON_REPORT').length;
        console.log(
          `kill -9 after ${atKill.steps} stop(s), with ${atKill.done} intents DONE, ${atKill.pending} PENDING and ${atKill.heard} answered true: ${executed.length} kills ran (${trues.size} answered true, ${unanswered} unanswered; settled from the daemon's report ${byReport}, from the reply ${settledBy.length - byReport}), ${answered} of ${attempts.length} requests answered`,
        );
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
    for (const p of procs) assertNoSecrets(p.output(), [admin, 'kill9-mgmt-pw', 'pw-storm'], p.name);
  },
);
