/**
 * Fault windows of a disconnect between the replica, the agent and the daemon, with real processes:
 * two `switchboard start` replicas on PostgreSQL, a real OpenVPN daemon (observe and authorize mode)
 * and `switchboard agent` processes over NATS. The agents reach the daemon's management socket
 * through a proxy of this test's, which sees every byte and can hold the daemon's answers back, so
 * each window is hit on purpose rather than by chance.
 *
 * - The agent is `kill -9`ed after the daemon ran `client-kill` (its `SUCCESS` is on the wire) and
 *   before the answer reached the agent: the API must not say "not sent" (the kill ran), and once an
 *   agent is back the record is the operator's, with its audit rows and its event.
 * - The agent is stopped (SIGSTOP) with the request on its socket: UNCONFIRMED at the deadline; when
 *   it runs again it writes the kill, and the end is the operator's.
 * - The agent is stopped with the request on its socket and then `kill -9`ed: UNCONFIRMED, nothing
 *   ran, the session stays online with its intent pending; the next disconnect sends the kill again as
 *   that same intent.
 * - The only replica is `kill -9`ed after the daemon ran the kill and before it heard the answer,
 *   then restarted: the end is the operator's.
 * - Two agents serve the same gateway on the same prefix (a second one started by mistake, or a second
 *   deployment on the same prefix), one of them holding the daemon's management link: a disconnect
 *   is answered by the agent that handled it, "not sent" only when no kill was written, `true` only
 *   when the daemon confirmed it. Before agents served in one queue group, both got every request
 *   and the one without the link answered NOT_SENT first while the other's kill ran.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason } from './support/nats-server.js';
import { apiClient, ONLINE_SESSIONS, onlineRows, waitLinked } from './support/api-client.js';
import { openvpnSkipReason, type LabClient } from './support/openvpn-lab.js';
import { postgresSkipReason } from './support/postgres.js';
import { startReplicaStack, type ReplicaStack } from './support/replica-stack.js';
import type { SwitchboardProcess } from './support/switchboard-process.js';
import { quietPeriod, waitFor } from './support/wait.js';

const skip = openvpnSkipReason() || (await postgresSkipReason()) || (await natsSkipReason());
const DISCONNECT =
  'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "fault window" }) { outcome } }';

/**
 * TCP in front of the daemon's management socket (a unix socket). `hold`: the daemon's output, from
 * its `SUCCESS: client-kill` on, is kept from the agent (the kill ran; the agent has not heard it)
 * until `release()`; `delay`: each such answer is held back that long before it passes.
 */
class ManagementProxy {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  policy: { kind: 'forward' } | { kind: 'hold' } | { kind: 'delay'; ms: number } = { kind: 'forward' };
  /** Resolved when a held connection met the daemon's `SUCCESS` to a `client-kill`. */
  executed!: Promise<void>;
  private onExecuted!: () => void;
  kills = 0;
  private readonly releases: (() => void)[] = [];

  constructor(private readonly path: string) {
    this.arm();
  }

  arm(): void {
    this.executed = new Promise((resolve) => (this.onExecuted = resolve));
  }

  /** Forwards again, first what was held (to agents still there). */
  release(): void {
    this.policy = { kind: 'forward' };
    for (const r of this.releases.splice(0)) r();
  }

  async start(): Promise<string> {
    this.server = createServer((agent) => this.accept(agent));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `tcp://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private accept(agent: Socket): void {
    const daemon = createConnection(this.path);
    for (const s of [agent, daemon]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        agent.destroy();
        daemon.destroy();
      });
    }
    let held = false;
    const kept: Buffer[] = [];
    this.releases.push(() => {
      held = false;
      for (const b of kept.splice(0)) agent.write(b);
    });
    agent.on('data', (b) => {
      this.kills += (b.toString('latin1').match(/^client-kill /gm) ?? []).length;
      daemon.write(b);
    });
    daemon.on('data', (b) => {
      const success = /SUCCESS: client-kill/.test(b.toString('latin1'));
      const p = this.policy;
      if (held || (success && p.kind === 'hold')) {
        held = true;
        kept.push(b);
        this.onExecuted();
        return;
      }
      if (success && p.kind === 'delay') {
        daemon.pause();
        setTimeout(() => {
          agent.write(b);
          daemon.resume();
        }, p.ms);
        return;
      }
      agent.write(b);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

interface Row {
  end_cause: string | null;
  ended_by_name: string | null;
  end_reason: string | null;
  ended_at: Date | null;
}

async function sessionRow(stack: ReplicaStack, id: string): Promise<Row> {
  return (
    await stack.sql.query('SELECT end_cause, ended_by_name, end_reason, ended_at FROM sessions WHERE id = $1', [id])
  ).rows[0] as Row;
}

async function auditOf(
  stack: ReplicaStack,
  id: string,
): Promise<{ outcome: string; late: boolean; confirmedBy?: string }[]> {
  const r = await stack.sql.query(
    "SELECT outcome, metadata FROM audit_events WHERE action = 'session.disconnect' AND target_session_id = $1 ORDER BY at, outcome",
    [id],
  );
  return r.rows.map((a: { outcome: string; metadata: string | Record<string, unknown> }) => {
    const m = (typeof a.metadata === 'string' ? JSON.parse(a.metadata) : a.metadata) as {
      late?: boolean;
      confirmedBy?: string;
    };
    return { outcome: a.outcome, late: m.late === true, confirmedBy: m.confirmedBy };
  });
}

async function eventsOf(stack: ReplicaStack, id: string): Promise<string[]> {
  const events = await stack.sql.query("SELECT payload FROM event_outbox WHERE type = 'session.disconnected'");
  return events.rows
    .map((r: { payload: string }) => JSON.parse(r.payload) as { session: { id: string; endCause: string } })
    .filter((e) => e.session.id === id)
    .map((e) => e.session.endCause);
}

type Answer = { code?: string; disconnect?: string; outcome?: string; message?: string };

function answerOf(json: Awaited<ReturnType<ReplicaStack['gql']>>): Answer {
  const e = json.errors?.[0] as { message: string; extensions?: { code?: string; disconnect?: string } } | undefined;
  if (e) return { code: e.extensions?.code, disconnect: e.extensions?.disconnect, message: e.message };
  return { outcome: (json.data?.disconnectSession as { outcome: string }).outcome };
}

/** A replica stack (TCP clients, a 4 s disconnect deadline) whose agents reach the daemon through a ManagementProxy. */
async function startProxiedStack(
  name: string,
  mode: 'observe' | 'authorize',
): Promise<{ stack: ReplicaStack; proxy: ManagementProxy }> {
  let proxy: ManagementProxy | undefined;
  const started = startReplicaStack({
    name,
    mode,
    proto: 'tcp4',
    snapshotIntervalSeconds: 600,
    replicaEnv: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '4000' },
    managementVia: async (management) => {
      proxy = new ManagementProxy(management.replace(/^unix:/, ''));
      return proxy.start();
    },
  });
  // A stack that failed to start closed its own processes; the proxy is this process's to close.
  const stack = await started.catch(async (e: unknown) => {
    await proxy?.close();
    throw e;
  });
  return { stack, proxy: proxy! };
}

/** Waits until `users` are listed online on the gateway (by the replica at `url`); their session ids by user. */
async function listed(stack: ReplicaStack, users: string[], url = stack.urlA): Promise<Map<string, string>> {
  return waitFor(
    async () => {
      const rows = onlineRows(await stack.gql(url, ONLINE_SESSIONS, { gw: stack.gw }));
      const m = new Map(rows.map((r) => [r.user.name, r.id]));
      return users.every((u) => m.has(u)) ? m : null;
    },
    30_000,
    `${users.join(', ')} listed`,
  );
}

/**
 * Session `id` ends as the operator's: its intent DONE, its PENDING and SUCCESS rows (settled from the
 * daemon's report; `late` after an UNCONFIRMED answer), one event.
 */
async function assertOperatorsEnd(stack: ReplicaStack, id: string, late: boolean): Promise<void> {
  const row = await waitFor(
    async () => {
      const r = await sessionRow(stack, id);
      return r.ended_at ? r : null;
    },
    30_000,
    'the end recorded',
  );
  assert.deepEqual(
    [row.end_cause, row.ended_by_name, row.end_reason],
    ['ADMIN_DISCONNECT', 'bootstrap-admin', 'fault window'],
    "the kill ran on the operator's order",
  );
  const intents = await stack.sql.query('SELECT status FROM disconnect_intents WHERE session_id = $1', [id]);
  assert.deepEqual(
    intents.rows.map((r: { status: string }) => r.status),
    ['DONE'],
  );
  const audit = await waitFor(
    async () => {
      const rows = await auditOf(stack, id);
      return rows.length === 2 ? rows : null;
    },
    10_000,
    'the pending and the settled audit rows',
  );
  assert.deepEqual(
    audit.map((r) => r.outcome),
    ['PENDING', 'SUCCESS'],
  );
  assert.deepEqual([audit[1]!.confirmedBy, audit[1]!.late], ['DAEMON_REPORT', late], 'settled from the daemon');
  await waitFor(async () => (await eventsOf(stack, id)).length > 0, 10_000, 'its event');
  assert.deepEqual(await eventsOf(stack, id), ['ADMIN_DISCONNECT'], 'one session.disconnected event');
}

for (const mode of ['observe', 'authorize'] as const) {
  describe(
    `an agent or the replica dies or stalls between the daemon's kill and its answer (${mode})`,
    { skip, timeout: 150_000 },
    () => {
      let stack: ReplicaStack;
      let proxy: ManagementProxy;
      let agent: SwitchboardProcess;
      const clients = new Map<string, LabClient>();

      before(async () => {
        ({ stack, proxy } = await startProxiedStack(`kill_${mode}`, mode));
        // Authorize mode: clients get in only once the agent holds the link and answers for the daemon.
        await waitLinked(apiClient(stack.urlA, stack.admin), stack.gw);
        for (const user of ['mallory', 'trudy', 'oscar', 'peggy', 'alice'])
          clients.set(user, await stack.server.startClient({ user }));
      });

      after(async () => {
        proxy?.release();
        await stack?.close();
        await proxy?.close();
      });

      test("the agent: never 'not sent'; once an agent is back, the end is the operator's with its audit rows and event", async () => {
        const id = (await listed(stack, ['mallory', 'trudy', 'oscar', 'peggy', 'alice'])).get('mallory')!;
        proxy.policy = { kind: 'hold' };
        proxy.arm();
        const answer = stack.gql(stack.urlA, DISCONNECT, { id });
        await proxy.executed;
        stack.agent.kill('SIGKILL');
        await stack.agent.waitExited();
        proxy.release();
        const a = answerOf(await answer);
        assert.deepEqual(
          [a.code, a.disconnect],
          ['GATEWAY_UNAVAILABLE', 'UNCONFIRMED'],
          `the kill ran: the answer may not say it was not sent (${JSON.stringify(a)})`,
        );
        // A new agent (its service manager restarts it): its first snapshot no longer lists the session.
        agent = await stack.startAgent('agent, restarted');
        await assertOperatorsEnd(stack, id, true);
        assert.equal(clients.get('alice')!.exited, false);
        await listed(stack, ['alice', 'trudy', 'oscar']);
      });

      test("the agent stalled (SIGSTOP) with the request on its socket: UNCONFIRMED; after SIGCONT the kill runs and the end is the operator's", async () => {
        const id = (await listed(stack, ['oscar'])).get('oscar')!;
        await waitLinked(apiClient(stack.urlA, stack.admin), stack.gw);
        const before = proxy.kills;
        await agent.pause();
        try {
          const a = answerOf(await stack.gql(stack.urlA, DISCONNECT, { id }));
          assert.deepEqual([a.code, a.disconnect], ['GATEWAY_UNAVAILABLE', 'UNCONFIRMED'], JSON.stringify(a));
          assert.equal(proxy.kills, before, 'nothing written while the agent is stopped');
        } finally {
          agent.resume();
        }
        await waitFor(() => proxy.kills > before, 20_000, 'the agent writes the kill once it runs');
        await assertOperatorsEnd(stack, id, true);
        assert.equal(clients.get('alice')!.exited, false);
      });

      test('the agent killed with the request unread: UNCONFIRMED, nothing ran, still online; the next disconnect sends it again as the same intent', async () => {
        const id = (await listed(stack, ['peggy'])).get('peggy')!;
        await waitLinked(apiClient(stack.urlA, stack.admin), stack.gw);
        const before = proxy.kills;
        await agent.pause();
        const a = answerOf(await stack.gql(stack.urlA, DISCONNECT, { id }));
        agent.kill('SIGKILL');
        await agent.waitExited();
        assert.deepEqual([a.code, a.disconnect], ['GATEWAY_UNAVAILABLE', 'UNCONFIRMED'], JSON.stringify(a));
        agent = await stack.startAgent('agent, restarted again');
        await waitLinked(apiClient(stack.urlA, stack.admin), stack.gw);
        // The restarted agent's snapshot lists the session: nothing ran, and it stays online, its intent pending.
        await quietPeriod(2000);
        assert.equal(proxy.kills, before, 'no kill was written');
        assert.equal(clients.get('peggy')!.exited, false);
        assert.equal((await sessionRow(stack, id)).ended_at, null, 'still online in the record');
        const pending = await stack.sql.query('SELECT id, status FROM disconnect_intents WHERE session_id = $1', [id]);
        assert.deepEqual(
          pending.rows.map((r: { status: string }) => r.status),
          ['PENDING'],
        );
        // Answered "not confirmed": the next disconnect sends the kill again, as that same intent.
        const again = answerOf(await stack.gql(stack.urlA, DISCONNECT, { id }));
        assert.equal(again.outcome, 'DISCONNECTED', JSON.stringify(again));
        const intents = await stack.sql.query('SELECT id, status FROM disconnect_intents WHERE session_id = $1', [id]);
        assert.deepEqual(
          intents.rows.map((r: { id: string; status: string }) => [r.id, r.status]),
          [[(pending.rows[0] as { id: string }).id, 'DONE']],
          'one intent, settled by the re-send',
        );
        const row = await sessionRow(stack, id);
        assert.deepEqual([row.end_cause, row.ended_by_name], ['ADMIN_DISCONNECT', 'bootstrap-admin']);
        assert.deepEqual(await eventsOf(stack, id), ['ADMIN_DISCONNECT'], 'one session.disconnected event');
      });

      test("the only replica, restarted: the end is the operator's with its audit rows and event", async () => {
        const id = (await listed(stack, ['trudy', 'alice'])).get('trudy')!;
        await stack.replicaB.stop();
        proxy.policy = { kind: 'hold' };
        proxy.arm();
        const answer = stack.gql(stack.urlA, DISCONNECT, { id }).then(
          () => 'answered',
          () => 'connection cut',
        );
        await proxy.executed;
        stack.replicaA.kill('SIGKILL');
        await stack.replicaA.waitExited();
        assert.equal(await answer, 'connection cut');
        // The agent hears the daemon's answer now, and replies to nobody.
        proxy.release();
        const { url } = await stack.startReplica('replica A, restarted');
        // Nobody answered UNCONFIRMED (the caller's connection was cut): not late.
        await assertOperatorsEnd(stack, id, false);
        assert.equal(clients.get('alice')!.exited, false);
        await listed(stack, ['alice'], url);
      });
    },
  );
}

describe('two agents serving one gateway on one prefix', { skip, timeout: 120_000 }, () => {
  let stack: ReplicaStack;
  let proxy: ManagementProxy;
  const clients = new Map<string, LabClient>();
  const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];

  before(async () => {
    ({ stack, proxy } = await startProxiedStack('twoagents', 'observe'));
    for (const user of USERS) clients.set(user, await stack.server.startClient({ user }));
    await listed(stack, USERS);
    // The second agent: the daemon takes one management client at a time, so it cannot link.
    await stack.startAgent('agent, second');
  });

  after(async () => {
    await stack?.close();
    await proxy?.close();
  });

  test('each answer is what the daemon did: NOT_SENT only when no kill was written, true only when it ran', async () => {
    const ids = await listed(stack, USERS);
    // The linked agent's confirmation takes a while, as over a slow link: an agent without the link,
    // were it asked too, would answer first.
    proxy.policy = { kind: 'delay', ms: 500 };
    const answers: { user: string; answer: Answer; killsWritten: number }[] = [];
    for (const user of USERS) {
      const before = proxy.kills;
      const answer = answerOf(await stack.gql(stack.urlA, DISCONNECT, { id: ids.get(user)! }));
      answers.push({ user, answer, killsWritten: proxy.kills - before });
    }
    proxy.policy = { kind: 'forward' };
    const said = JSON.stringify(answers);
    for (const { user, answer, killsWritten } of answers) {
      if (answer.outcome !== undefined) {
        assert.equal(answer.outcome, 'DISCONNECTED', said);
        assert.equal(killsWritten, 1, `${user}: true, so its kill was written (${said})`);
        const row = await sessionRow(stack, ids.get(user)!);
        assert.equal(row.end_cause, 'ADMIN_DISCONNECT', `${user}: recorded as the operator's`);
      } else {
        assert.deepEqual([answer.code, answer.disconnect], ['GATEWAY_UNAVAILABLE', 'NOT_SENT'], said);
        assert.equal(killsWritten, 0, `${user}: answered NOT_SENT, yet its kill was written to the daemon (${said})`);
      }
    }
    // Nothing runs later: the clients answered NOT_SENT stay connected and online in the record.
    await quietPeriod(3000);
    assert.equal(proxy.kills, answers.filter((a) => a.answer.outcome !== undefined).length, said);
    for (const { user, answer } of answers) {
      if (answer.outcome !== undefined) continue;
      assert.equal(clients.get(user)!.exited, false, `${user}: answered NOT_SENT, so still connected`);
      assert.equal((await sessionRow(stack, ids.get(user)!)).ended_at, null, `${user}: still online in the record`);
    }
  });
});
