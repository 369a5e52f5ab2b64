/**
 * The batched bulk path keeps the record of a single disconnect per session (docs/guarantees.md), on
 * SQLite and PostgreSQL with gateway test doubles: intents durable before their kills, one intent
 * per session, one settlement per intent whoever gets there first (the reply's batch, sync from the
 * daemon's echo, another replica).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newIntentId, type DisconnectIntent } from '../domain/disconnect-intent.js';
import type { Session } from '../domain/session.js';
import { KyselyStore } from '../store/kysely/kysely-store.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { subjects } from '../bus/bus.js';
import { auditEvent } from './audit.js';
import { appendSessionEvents } from './event-outbox.js';
import { settleEnded, settleUnsuccessful } from './intent-settlement.js';
import type { SessionEvent } from './session-events.js';
import { BULK_CHUNK, BULK_KILL_BATCH, BULK_KILLS_IN_FLIGHT } from './bulk-chunks.js';
import { DeltaApplier } from './sync/deltas.js';
import { MAX_DISCONNECT_BATCH } from './reports.js';
import { DEFAULT_MAX_IN_FLIGHT } from '../gateways/openvpn/command-queue.js';

const pgSkip = await postgresSkipReason();

test('a bulk request of kills is one an agent accepts, and the kills in flight fit the management link', () => {
  // A larger request is refused by every agent (NOT_SENT, unreadable), and each of its kills is sent again alone.
  assert.ok(BULK_KILL_BATCH <= MAX_DISCONNECT_BATCH);
  assert.equal(BULK_KILLS_IN_FLIGHT % BULK_KILL_BATCH, 0);
  // Deeper than the link, kills wait in the agent's queue and their echoes come in runs no longer than its depth.
  assert.ok(BULK_KILLS_IN_FLIGHT <= DEFAULT_MAX_IN_FLIGHT);
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`bulk disconnect in chunks on ${dialect}`, { skip: dialect === 'postgres' && pgSkip }, () => {
    let h: CoreHarness;
    let drop: (() => Promise<void>) | undefined;
    const events: SessionEvent[] = [];

    before(async () => {
      let url = join(mkdtempSync(join(tmpdir(), 'sb-bulk-chunks-')), 'core.db');
      if (dialect === 'postgres') {
        const fresh = await createFreshPostgresDatabase();
        url = fresh.url;
        drop = fresh.drop;
      }
      // A deadline no kill misses here, however loaded the machine: the tests are about the record.
      h = await startCoreHarness(url, { deadlineMs: 10_000 });
      h.bus.subscribe(subjects.sessionEvents, (e) => void events.push(e as SessionEvent));
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });

    const admin = () => h.actor(['admin'], 'ops');
    /** Each reply reaches the bulk only once sync applied the echoes (committed), as under load; returns the undo. */
    const repliesAfterSync = () => {
      const request = h.bus.request.bind(h.bus);
      h.bus.request = async (subject, data, options) => {
        const reply = await request(subject, data, options);
        await h.settle();
        return reply;
      };
      return () => {
        h.bus.request = request;
      };
    };
    /** `n` sessions of `userName` on the first gateway, online in the store. */
    const online = async (userName: string, n: number): Promise<Session[]> => {
      const gw = h.gateways[0]!;
      const refs = Array.from({ length: n }, () => gw.connect(userName).ref);
      await h.settle();
      const sessions = await h.store.sessions.findByRefs(gw.config.id, refs);
      assert.equal(sessions.length, n);
      return sessions;
    };
    const auditOf = async (userName: string) =>
      (await h.store.audit.list({ first: 10_000, filter: { targetUserName: userName, action: 'session.disconnect' } }))
        .rows;
    const intentsOf = async (sessionId: string) =>
      (h.store as KyselyStore).db
        .selectFrom('disconnect_intents')
        .select(['id', 'status'])
        .where('session_id', '=', sessionId)
        .execute();
    /**
     * A session's end events, one per event id: the relay publishes at least once (a round whose bus
     * or store did not answer in time on a loaded machine is published again once its lease ends,
     * under the same id, and subscribers drop the copy by id), so what must hold is one event per
     * end, not one message. Two events of one end have two ids and still fail.
     */
    const endedEvents = (sessionId: string) => [
      ...new Map(
        events.filter((e) => e.type === 'session.disconnected' && e.session.id === sessionId).map((e) => [e.id, e]),
      ).values(),
    ];
    /** Per session: its audit outcomes (sorted), its intents, its events. */
    const recordOf = async (sessions: Session[], userName: string) => {
      const rows = await auditOf(userName);
      return Promise.all(
        sessions.map(async (s) => ({
          outcomes: rows
            .filter((r) => r.targetSessionId === s.id)
            .map((r) => r.outcome)
            .sort(),
          intents: (await intentsOf(s.id)).map((i) => i.status),
          events: endedEvents(s.id).length,
        })),
      );
    };

    /** A PENDING intent of `session` with its PENDING row, committed, as `actorName`'s replica records one. */
    const recordIntent = async (
      session: Session,
      actorName: string,
      reason: string,
      unconfirmedAt: number | null = null,
    ): Promise<DisconnectIntent> => {
      const now = Date.now();
      const intent: DisconnectIntent = {
        id: newIntentId(),
        sessionId: session.id,
        gatewayId: session.gatewayId,
        userName: session.userName,
        createdAt: now,
        actorTokenId: `tok_${actorName}`,
        actorName,
        actorIp: null,
        actorUserAgent: null,
        actorRequestId: null,
        reason,
        message: null,
        mode: 'HALT',
        blockSeconds: null,
        status: 'PENDING',
        unconfirmedAt,
        settledAt: null,
        auditEventId: '',
        settledAuditEventId: null,
      };
      const pendingRow = auditEvent(
        { tokenId: intent.actorTokenId, name: actorName, ip: null, userAgent: null, scopes: [] },
        'session.disconnect',
        'PENDING',
        {
          at: now,
          targetSessionId: session.id,
          targetUserName: session.userName,
          targetGatewayId: session.gatewayId,
          metadata: { intentId: intent.id },
        },
      );
      intent.auditEventId = pendingRow.id;
      await h.store.transaction(async (tx) => {
        assert.ok(await tx.intents.insertIfNoPending(intent));
        await tx.audit.append(pendingRow);
      });
      return intent;
    };
    /** The sessions and intents looked up in transactions (by ref; pending intents by session id) while `fn` ran. */
    const lookUps = async <T>(fn: () => Promise<T>): Promise<{ value: T; refs: Set<string>; ids: Set<string> }> => {
      const refs = new Set<string>();
      const ids = new Set<string>();
      const transaction = h.store.transaction.bind(h.store);
      h.store.transaction = (run) =>
        transaction((tx) => {
          const byRefs = tx.sessions.findByRefs.bind(tx.sessions);
          const pending = tx.intents.listPendingBySessions.bind(tx.intents);
          tx.sessions.findByRefs = (gatewayId, r) => {
            for (const x of r) refs.add(x);
            return byRefs(gatewayId, r);
          };
          tx.intents.listPendingBySessions = (s) => {
            for (const x of s) ids.add(x);
            return pending(s);
          };
          return run(tx);
        });
      try {
        return { value: await fn(), refs, ids };
      } finally {
        h.store.transaction = transaction;
      }
    };

    test('more than a chunk: every intent and its PENDING row committed before its kill; one settlement, row and event each', async () => {
      const n = BULK_CHUNK + 100;
      const sessions = await online('wave', n);
      const gw = h.gateways[0]!;
      const disconnect = gw.disconnect.bind(gw);
      const durable: boolean[] = [];
      gw.disconnect = async (command, deadlineMs) => {
        const s = (await h.store.sessions.findByRef(gw.config.id, command.ref))!;
        const intent = await h.store.intents.findPending(s.id);
        const pendingRows = await h.store.audit.list({
          first: 5,
          filter: { targetSessionId: s.id, outcome: 'PENDING' },
        });
        durable.push(intent !== null && pendingRows.rows.some((r) => r.id === intent.auditEventId));
        return disconnect(command, deadlineMs);
      };
      try {
        const result = await h.core.disconnectSessions(admin(), { filter: { userName: 'wave' }, reason: 'incident' });
        assert.deepEqual(
          { matched: result.matched, ended: result.ended, failed: result.failed, alreadyGone: result.alreadyGone },
          { matched: n, ended: n, failed: 0, alreadyGone: 0 },
        );
        assert.deepEqual(new Set(result.results.map((r) => r.outcome)), new Set(['ENDED']));
      } finally {
        gw.disconnect = disconnect;
      }
      assert.equal(durable.length, n, 'one kill per session');
      assert.ok(durable.every(Boolean), 'every kill found its intent and PENDING row committed');
      await h.settle();
      const record = await recordOf(sessions, 'wave');
      assert.deepEqual(
        record.filter((r) => r.outcomes.join() !== 'PENDING,SUCCESS' || r.intents.join() !== 'DONE' || r.events !== 1),
        [],
        'each session: PENDING and SUCCESS rows, one intent DONE, one event',
      );
      const ended = await h.store.sessions.findById(sessions[0]!.id);
      assert.deepEqual(
        [ended?.endCause, ended?.endedByName, ended?.endReason],
        ['ADMIN_DISCONNECT', 'ops', 'incident'],
      );
    });

    test('an intent settled elsewhere between the reply and the batch (another replica) gets no second row or event', async () => {
      const sessions = await online('race', 40);
      const publish = h.bus.publish.bind(h.bus);
      const request = h.bus.request.bind(h.bus);
      // The echoes never reach this replica's sync; every other kill's end is settled by "another
      // replica" from the daemon's report, after the reply and before the bulk's batch.
      h.bus.publish = async (subject, data) => {
        if (subject.endsWith('.report') && (data as { type?: string }).type === 'session.disconnected') return;
        return publish(subject, data);
      };
      let k = 0;
      const elsewhere = new Set<string>();
      h.bus.request = async (subject, data, options) => {
        const reply = await request(subject, data, options);
        if (!subject.endsWith('.disconnect')) return reply;
        // One kill, or a batch of them: every other kill of the run.
        const kills = (data as { kills?: { ref: string }[] }).kills ?? [data as { ref: string }];
        for (const kill of kills) {
          if (k++ % 2 !== 0) continue;
          const s = (await h.store.sessions.findByRef(h.gateways[0]!.config.id, kill.ref))!;
          const intent = (await h.store.intents.findPending(s.id))!;
          await h.store.transaction(async (tx) => {
            const done = await settleEnded(tx, intent, {
              at: Date.now(),
              now: Date.now(),
              confirmedBy: 'DAEMON_REPORT',
            });
            await appendSessionEvents(tx, done?.event ? [done.event] : [], Date.now());
          });
          elsewhere.add(s.id);
        }
        return reply;
      };
      try {
        const result = await h.core.disconnectSessions(admin(), { filter: { userName: 'race' } });
        assert.equal(result.ended, 40, 'the ones settled elsewhere are ENDED too: the record says DONE');
      } finally {
        h.bus.publish = publish;
        h.bus.request = request;
      }
      await h.settle();
      assert.equal(elsewhere.size, 20);
      const record = await recordOf(sessions, 'race');
      assert.deepEqual(
        record.filter((r) => r.outcomes.join() !== 'PENDING,SUCCESS' || r.intents.join() !== 'DONE' || r.events !== 1),
        [],
        'one SUCCESS row and one event per session, whoever settled it',
      );
      const successes = (await auditOf('race')).filter((r) => r.outcome === 'SUCCESS');
      assert.deepEqual(
        new Set(successes.filter((r) => r.metadata.confirmedBy === 'DAEMON_REPORT').map((r) => r.targetSessionId)),
        elsewhere,
      );
    });

    /** The daemon's reports of sessions' ends carry final counters (7 received, 9 sent); their times by ref. Returns the undo. */
    const echoesWithCounters = (times: Map<string, number>) => {
      const publish = h.bus.publish.bind(h.bus);
      h.bus.publish = async (subject, data) => {
        const r = data as { type?: string; ref?: string; at?: number };
        if (subject.endsWith('.report') && r.type === 'session.disconnected') {
          times.set(r.ref!, r.at!);
          return publish(subject, { ...r, bytesReceived: 7, bytesSent: 9 });
        }
        return publish(subject, data);
      };
      return () => {
        h.bus.publish = publish;
      };
    };

    test("the daemon's echoes come first: parked, the bulk's batches settle them at their time with their counters, sync looks nothing up", async () => {
      const sessions = await online('echo', 30);
      const times = new Map<string, number>();
      const undoEchoes = echoesWithCounters(times);
      // Each reply reaches the bulk only once sync has had every echo of its kills.
      const restore = repliesAfterSync();
      const {
        value: result,
        refs,
        ids,
      } = await lookUps(() =>
        h.core.disconnectSessions(admin(), { filter: { userName: 'echo' }, reason: 'echo' }),
      ).finally(() => {
        restore();
        undoEchoes();
      });
      assert.equal(result.ended, 30);
      assert.equal(times.size, 30, 'the daemon reported every end');
      assert.deepEqual(
        sessions.filter((s) => refs.has(s.ref) || ids.has(s.id)),
        [],
        'no session of the bulk looked up by ref, no pending intent looked up by session',
      );
      await h.settle();
      const record = await recordOf(sessions, 'echo');
      assert.deepEqual(
        record.filter((r) => r.outcomes.join() !== 'PENDING,SUCCESS' || r.intents.join() !== 'DONE' || r.events !== 1),
        [],
      );
      const successes = (await auditOf('echo')).filter((r) => r.outcome === 'SUCCESS');
      assert.ok(successes.every((r) => r.metadata.confirmedBy === 'GATEWAY_REPLY' && r.actorName === 'ops'));
      const ended = await Promise.all(sessions.map((s) => h.store.sessions.findById(s.id)));
      assert.deepEqual(
        ended.filter(
          (s) =>
            s?.endCause !== 'ADMIN_DISCONNECT' ||
            s.endedByName !== 'ops' ||
            s.endReason !== 'echo' ||
            s.endedAt !== times.get(s.ref) ||
            s.bytesSent !== 9,
        ),
        [],
        "each ended as the operator's, at its report's time, with its final counters",
      );
    });

    test('a reply other than a confirmation applies the parked echo first: the end is recorded as the report says', async () => {
      const sessions = await online('late', 12);
      const times = new Map<string, number>();
      const undoEchoes = echoesWithCounters(times);
      const gw = h.gateways[0]!;
      const disconnect = gw.disconnect.bind(gw);
      // The daemon runs each kill (and reports the end) but its answer says the client was not found.
      gw.disconnect = async (command, deadlineMs) => {
        await disconnect(command, deadlineMs);
        return 'NOT_FOUND';
      };
      const result = await h.core
        .disconnectSessions(admin(), { filter: { userName: 'late' }, reason: 'late' })
        .finally(() => {
          gw.disconnect = disconnect;
          undoEchoes();
        });
      assert.equal(
        result.ended,
        12,
        "the report settled each intent first: the record says it ended as the operator's",
      );
      await h.settle();
      const record = await recordOf(sessions, 'late');
      assert.deepEqual(
        record.filter((r) => r.outcomes.join() !== 'PENDING,SUCCESS' || r.intents.join() !== 'DONE' || r.events !== 1),
        [],
      );
      const successes = (await auditOf('late')).filter((r) => r.outcome === 'SUCCESS');
      assert.ok(successes.every((r) => r.metadata.confirmedBy === 'DAEMON_REPORT'));
      const ended = await Promise.all(sessions.map((s) => h.store.sessions.findById(s.id)));
      assert.deepEqual(
        ended.filter((s) => s?.endCause !== 'ADMIN_DISCONNECT' || s.endedAt !== times.get(s.ref) || s.bytesSent !== 9),
        [],
      );
    });

    test('a chunk whose transaction fails: no kill is sent, nothing is recorded, each session fails with the error', async () => {
      const sessions = await online('fail', 12);
      const kills = h.gateways[0]!.commands.length;
      const transaction = h.store.transaction.bind(h.store);
      // The intents insert, then the PENDING rows fail: the transaction rolls back.
      h.store.transaction = (fn) =>
        transaction((tx) => {
          tx.audit.appendMany = () => Promise.reject(new Error('disk full'));
          return fn(tx);
        });
      const result = await h.core
        .disconnectSessions(admin(), { filter: { userName: 'fail' } })
        .finally(() => (h.store.transaction = transaction));
      assert.deepEqual(
        { ended: result.ended, failed: result.failed, codes: [...new Set(result.results.map((r) => r.code))] },
        { ended: 0, failed: 12, codes: ['INTERNAL'] },
      );
      assert.equal(h.gateways[0]!.commands.length, kills, 'no gateway was asked');
      assert.equal(await h.store.sessions.countOnline({ userName: 'fail' }), 12);
      assert.deepEqual(await h.store.intents.listPendingBySessions(sessions.map((s) => s.id)), []);
      assert.deepEqual(
        (await auditOf('fail')).map((r) => r.outcome),
        [],
      );
    });

    test('a session whose disconnect another caller has pending gets no second intent: its kill goes out again as that intent', async () => {
      const [mine, theirs] = await online('shared', 2);
      // Another replica's intent for one of them, answered "not confirmed".
      const other = await recordIntent(theirs!, 'other-replica', 'theirs', Date.now());
      const result = await h.core.disconnectSessions(admin(), { filter: { userName: 'shared' }, reason: 'mine' });
      assert.equal(result.ended, 2);
      await h.settle();
      assert.deepEqual(
        (await intentsOf(theirs!.id)).map((i) => [i.id, i.status]),
        [[other.id, 'DONE']],
      );
      assert.equal((await intentsOf(mine!.id)).length, 1);
      const ended = await h.store.sessions.findById(theirs!.id);
      assert.deepEqual(
        [ended?.endedByName, ended?.endReason],
        ['other-replica', 'theirs'],
        "recorded as the pending intent's",
      );
      const rows = (await auditOf('shared')).filter((r) => r.targetSessionId === theirs!.id);
      assert.deepEqual(rows.map((r) => r.outcome).sort(), ['PENDING', 'PENDING', 'SUCCESS']);
      assert.ok(
        rows.every((r) => r.metadata.intentId === other.id),
        'every row names the one intent',
      );
      assert.equal(endedEvents(theirs!.id).length, 1);
    });
    test("one run of echoes (sync): pending intents, intents settled elsewhere before it, another replica's, none", async () => {
      const [mine, doneElsewhere, failedElsewhere, theirs, nobody] = await online('mixed', 5);
      const gatewayId = mine!.gatewayId;
      const deltas = new DeltaApplier({ store: h.store, now: Date.now, unknownGateway: () => {} });
      const ours = await Promise.all(
        [mine!, doneElsewhere!, failedElsewhere!].map((s) => recordIntent(s, 'ops', 'mixed')),
      );
      const other = await recordIntent(theirs!, 'other-replica', 'theirs');
      // Settled before the run: the daemon's report, applied by another replica; the horizon.
      await h.store.transaction(async (tx) => {
        const done = await settleEnded(tx, ours[1]!, { at: Date.now(), now: Date.now(), confirmedBy: 'DAEMON_REPORT' });
        await appendSessionEvents(tx, done?.event ? [done.event] : [], Date.now());
        assert.ok(await settleUnsuccessful(tx, ours[2]!, 'FAILED', { now: Date.now() }));
      });
      const at = Date.now();
      const report = (s: Session, cause: 'ADMIN_DISCONNECT' | 'CLIENT_DISCONNECT') => ({
        type: 'session.disconnected' as const,
        gatewayId,
        agentId: 'agent-test',
        seq: 0,
        at,
        ref: s.ref,
        cause,
        bytesReceived: 7,
        bytesSent: 9,
      });
      const announced = await deltas.disconnectedRun([
        report(mine!, 'ADMIN_DISCONNECT'),
        report(doneElsewhere!, 'ADMIN_DISCONNECT'),
        report(failedElsewhere!, 'CLIENT_DISCONNECT'),
        report(theirs!, 'ADMIN_DISCONNECT'),
        report(nobody!, 'CLIENT_DISCONNECT'),
      ]);
      const intents = await Promise.all([mine!, doneElsewhere!, failedElsewhere!, theirs!].map((s) => intentsOf(s.id)));
      assert.deepEqual(
        intents.map((i) => i.map((x) => x.status)),
        [['DONE'], ['DONE'], ['FAILED'], ['DONE']],
      );
      assert.equal(intents[3]![0]!.id, other.id);
      const rows = await auditOf('mixed');
      const outcomes = (s: Session) =>
        rows
          .filter((r) => r.targetSessionId === s.id)
          .map((r) => r.outcome)
          .sort();
      assert.deepEqual(
        [mine!, doneElsewhere!, failedElsewhere!, theirs!, nobody!].map(outcomes),
        [['PENDING', 'SUCCESS'], ['PENDING', 'SUCCESS'], ['FAILED', 'PENDING'], ['PENDING', 'SUCCESS'], []],
        'one settlement per intent: none settled twice',
      );
      const ended = await Promise.all(
        [mine!, failedElsewhere!, theirs!, nobody!].map((s) => h.store.sessions.findById(s.id)),
      );
      assert.deepEqual(
        ended.map((s) => [s?.endCause, s?.endedByName ?? null, s?.bytesSent]),
        [
          ['ADMIN_DISCONNECT', 'ops', 9],
          ['CLIENT_DISCONNECT', null, 9],
          ['ADMIN_DISCONNECT', 'other-replica', 9],
          ['CLIENT_DISCONNECT', null, 9],
        ],
      );
      assert.deepEqual(
        announced.map((e: SessionEvent) => e.session.id).sort(),
        [mine!, failedElsewhere!, theirs!, nobody!].map((s) => s.id).sort(),
        'one event per end written here; none for the end another replica wrote',
      );
    });
  });
}
