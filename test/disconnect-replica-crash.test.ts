/**
 * Issue 14, fault 2, with real processes: replica A asks the agent to end a session, the real OpenVPN
 * daemon halts the client, and A is `kill -9`ed before it can commit — made deterministic by a row
 * lock the test holds on the session (A's settling write waits on it; the intent was written before
 * the gateway was asked, and takes no such lock). Once A is dead and the lock released, replica B
 * learns of the end from the daemon's own report and records it as the operator's: ADMIN_DISCONNECT
 * with A's caller as the actor, the intent settled DONE, its PENDING and SUCCESS audit rows, and the
 * session event in the outbox. Never as the user's own leaving, never without a trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsSkipReason } from './support/nats-server.js';
import { ONLINE_SESSIONS, onlineRows } from './support/api-client.js';
import { openvpnSkipReason, type LabClient } from './support/openvpn-lab.js';
import { postgresSkipReason } from './support/postgres.js';
import { startReplicaStack, type ReplicaStack } from './support/replica-stack.js';
import { waitFor } from './support/wait.js';

const skip = openvpnSkipReason() || (await postgresSkipReason()) || (await natsSkipReason());
const DISCONNECT =
  'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, reason: "crash window" }) { outcome } }';

describe(
  'a replica killed after the daemon ended the session and before its commit',
  { skip, timeout: 180_000 },
  () => {
    let stack: ReplicaStack;
    let victim: LabClient;
    let bystander: LabClient;

    before(async () => {
      // No periodic snapshot: the daemon's own report of the end is what B learns it from.
      stack = await startReplicaStack({
        name: 'crash',
        snapshotIntervalSeconds: 600,
        replicaEnv: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '20000' },
      });
      victim = await stack.server.startClient({ user: 'mallory' });
      bystander = await stack.server.startClient({ user: 'alice' });
    });

    after(async () => {
      await stack?.sql.query('ROLLBACK').catch(() => undefined);
      await stack?.close();
    });

    test("replica B records the executed kill as the operator's, with its audit rows and its event", async () => {
      const { gw, sql, urlA, urlB, replicaA, gql } = stack;
      const listed = await waitFor(
        async () => {
          const rows = onlineRows(await gql(urlA, ONLINE_SESSIONS, { gw }));
          return rows.length === 2 ? rows : null;
        },
        30_000,
        'both clients listed',
      );
      const session = listed.find((s) => s.user.name === 'mallory')!;

      // Hold the session's row: every write that ends it (A's settlement, both replicas' sync) waits.
      await sql.query('BEGIN');
      await sql.query('SELECT id FROM sessions WHERE id = $1 FOR NO KEY UPDATE', [session.id]);
      const answer = gql(urlA, DISCONNECT, { id: session.id }).then(
        () => 'answered',
        () => 'connection cut',
      );
      // The intent is durable before the gateway is asked; then the daemon halts the client.
      await waitFor(
        async () =>
          (
            await sql.query("SELECT 1 FROM disconnect_intents WHERE session_id = $1 AND status = 'PENDING'", [
              session.id,
            ])
          ).rowCount === 1,
        20_000,
        'pending intent',
      );
      await victim.waitExited(20_000);

      replicaA.kill('SIGKILL');
      await replicaA.waitExited();
      assert.equal(await answer, 'connection cut', 'A never answered: it died before its commit');
      await sql.query('ROLLBACK');

      const row = await waitFor(
        async () => {
          const r = await sql.query(
            'SELECT end_cause, ended_by_name, end_reason FROM sessions WHERE id = $1 AND ended_at IS NOT NULL',
            [session.id],
          );
          return r.rows[0] as
            { end_cause: string; ended_by_name: string | null; end_reason: string | null } | undefined;
        },
        30_000,
        'replica B records the end',
      );
      assert.equal(row.end_cause, 'ADMIN_DISCONNECT');
      assert.equal(row.ended_by_name, 'bootstrap-admin');
      assert.equal(row.end_reason, 'crash window');

      const intent = (await sql.query('SELECT id, status FROM disconnect_intents WHERE session_id = $1', [session.id]))
        .rows as { id: string; status: string }[];
      assert.deepEqual(
        intent.map((i) => i.status),
        ['DONE'],
      );
      const audit = await waitFor(
        async () => {
          const r = await sql.query(
            "SELECT outcome, actor_name, metadata FROM audit_events WHERE action = 'session.disconnect' AND target_session_id = $1 ORDER BY at",
            [session.id],
          );
          return r.rows.length === 2
            ? (r.rows as { outcome: string; actor_name: string; metadata: string | Record<string, unknown> }[])
            : null;
        },
        10_000,
        'pending and settled audit rows',
      );
      assert.deepEqual(
        audit.map((a) => [a.outcome, a.actor_name]),
        [
          ['PENDING', 'bootstrap-admin'],
          ['SUCCESS', 'bootstrap-admin'],
        ],
      );
      const meta = audit.map(
        (a) => (typeof a.metadata === 'string' ? JSON.parse(a.metadata) : a.metadata) as { intentId?: string },
      );
      assert.equal(meta[0]!.intentId, intent[0]!.id);
      assert.equal(meta[1]!.intentId, intent[0]!.id);
      const events = await sql.query("SELECT payload FROM event_outbox WHERE type = 'session.disconnected'");
      const ours = events.rows
        .map((r: { payload: string }) => JSON.parse(r.payload) as { session: { id: string; endCause: string } })
        .filter((e) => e.session.id === session.id);
      assert.equal(ours.length, 1, 'one session.disconnected event in the outbox');
      assert.equal(ours[0]!.session.endCause, 'ADMIN_DISCONNECT');

      // Exactly one tunnel ended: the bystander is untouched and still listed on B.
      assert.equal(bystander.exited, false);
      const left = onlineRows(await gql(urlB, ONLINE_SESSIONS, { gw })).map((s) => s.user.name);
      assert.deepEqual(left, ['alice']);
    });
  },
);
