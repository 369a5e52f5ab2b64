/**
 * The disconnect use case, intent first, on SQLite and PostgreSQL with gateway test doubles (the
 * real-OpenVPN and crash cases are in test/disconnect-intent*.test.ts).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { DomainError } from '../domain/errors.js';
import { newIntentId } from '../domain/disconnect-intent.js';
import { newOrderedId } from '../domain/ids.js';
import type { AuditEvent } from '../domain/audit.js';
import type { Session } from '../domain/session.js';
import { KyselyStore } from '../store/kysely/kysely-store.js';
import { KyselyIntentRepository } from '../store/kysely/intent-repository.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { createFreshPostgresDatabase, postgresAvailable } from '../../test/support/postgres.js';
import { BusTimeoutError, subjects } from '../bus/bus.js';
import { IntentHorizon } from './intent-horizon.js';
import { silentLogger } from '../domain/logger.js';
import type { SessionEvent } from './session-events.js';
import { versioned } from './reports.js';

const code = (e: unknown) => (e instanceof DomainError ? e.code : String(e));
const is503 = (kind: 'NOT_SENT' | 'UNCONFIRMED') => (e: unknown) =>
  e instanceof DomainError && e.code === 'GATEWAY_UNAVAILABLE' && e.extensions.disconnect === kind;
/** Oldest first: the story of one session's disconnects (rows of the same millisecond: intent, then settlement, then refusals). */
const rank = (o: string) => (o === 'PENDING' ? 0 : o === 'SUCCESS' ? 1 : 2);
const story = (rows: AuditEvent[]) =>
  rows
    .filter((r) => r.action === 'session.disconnect')
    .sort((a, b) => a.at - b.at || rank(a.outcome) - rank(b.outcome))
    .map((r) => r.outcome);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`disconnect use case on ${dialect}`, async () => {
    let h: CoreHarness;
    let drop: (() => Promise<void>) | undefined;
    const pgMissing = dialect === 'postgres' && !(await postgresAvailable());
    if (pgMissing && process.env.CI === 'true')
      throw new Error('PostgreSQL is required in CI but not reachable on 127.0.0.1:5432');
    const events: SessionEvent[] = [];
    let webhookId = '';

    before(async () => {
      if (pgMissing) return;
      let url = join(mkdtempSync(join(tmpdir(), 'sb-core-')), 'core.db');
      if (dialect === 'postgres') {
        const fresh = await createFreshPostgresDatabase();
        url = fresh.url;
        drop = fresh.drop;
      }
      h = await startCoreHarness(url, { deadlineMs: 300 });
      h.bus.subscribe(subjects.sessionEvents, (e) => void events.push(e as SessionEvent));
      webhookId = (
        await h.core.createWebhook(h.actor(['admin']), {
          url: 'http://127.0.0.1:9/hook',
          events: ['session.disconnected'],
        })
      ).webhook.id;
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });
    const it = (name: string, fn: () => Promise<void>) =>
      test(name, { skip: pgMissing && 'PostgreSQL not reachable' }, fn);

    const online = async (userName: string, gw = 0) => {
      const report = h.gateways[gw]!.connect(userName);
      await h.settle();
      const s = await h.store.sessions.findByRef(h.gateways[gw]!.config.id, report.ref);
      assert.ok(s && s.endedAt === null, 'session is online');
      return s;
    };
    const auditOf = async (sessionId: string) =>
      (await h.store.audit.list({ first: 50, filter: { targetSessionId: sessionId } })).rows;
    const endedEvents = (sessionId: string) =>
      events.filter((e) => e.type === 'session.disconnected' && e.session.id === sessionId);
    const deliveries = async (sessionId: string) => {
      const ids = new Set(endedEvents(sessionId).map((e) => e.id));
      return (await h.store.webhooks.listDeliveries(webhookId, 500)).filter((d) => ids.has(d.eventId));
    };

    it('confirmed: the intent is recorded first, then settled in one transaction with the end, the event and its webhook row', async () => {
      const s = await online('alice');
      // Delivery ids are ordered ids: this one sorts between ids of the millisecond before and after.
      const idBefore = newOrderedId('webhookDelivery', Date.now() - 1);
      const admin = h.actor(['admin'], 'ops');
      const result = await h.core.disconnect(admin, s.id, { reason: 'incident 42', message: 'bye' });
      assert.equal(result.outcome, 'DISCONNECTED');
      assert.deepEqual(
        [result.session.endCause, result.session.endedByName, result.session.endReason],
        ['ADMIN_DISCONNECT', 'ops', 'incident 42'],
      );
      assert.equal(h.gateways[0]!.commands.at(-1)!.mode, 'HALT');
      await h.settle();
      const stored = await h.store.sessions.findById(s.id);
      assert.equal(stored!.endedByTokenId, 'tok_ops', 'the daemon echo did not overwrite the actor');
      const audit = await auditOf(s.id);
      assert.deepEqual(story(audit), ['PENDING', 'SUCCESS']);
      const [settled, pending] = audit;
      assert.equal(settled!.id, result.auditEventId);
      assert.equal(
        settled!.metadata.intentId,
        pending!.metadata.intentId,
        'the settling row names the intent of the PENDING row',
      );
      assert.deepEqual(
        [pending!.actorTokenId, pending!.reason, pending!.metadata.mode, pending!.metadata.message],
        ['tok_ops', 'incident 42', 'HALT', 'bye'],
      );
      const intent = await h.store.intents.findById(String(pending!.metadata.intentId));
      assert.deepEqual([intent!.status, intent!.settledAuditEventId], ['DONE', result.auditEventId]);
      await h.settle(); // the relay publishes the events from the outbox
      const disc = endedEvents(s.id);
      assert.equal(disc.length, 1, 'exactly one disconnected event (the echo publishes none)');
      assert.deepEqual([disc[0]!.actor?.name, disc[0]!.reason, disc[0]!.message], ['ops', 'incident 42', 'bye']);
      const [delivery, ...more] = await deliveries(s.id);
      assert.equal(more.length, 0, 'one webhook row for the one event');
      const idAfter = newOrderedId('webhookDelivery', Date.now() + 1);
      assert.ok(idBefore < delivery!.id && delivery!.id < idAfter, `${delivery!.id} is ordered by its time`);
    });

    /**
     * The daemon's echo of the kill reaches sync before the reply (as under load): `reply` turns the
     * real reply (the echo parked meanwhile) into the one the test wants; `between` runs after the
     * echo reached sync, before the reply is handed back. The echo's time is returned in `echoAt`.
     */
    const echoFirst = (
      reply: (real: unknown) => unknown = (real) => real,
      between: () => Promise<void> = async () => {},
    ) => {
      const request = h.bus.request.bind(h.bus);
      const seen = { echoAt: 0 };
      const unsubscribe = h.bus.subscribe(subjects.allGatewayReports, (r) => {
        const report = r as { type: string; at: number };
        if (report.type === 'session.disconnected') seen.echoAt = report.at;
      });
      h.bus.request = async (...args: Parameters<typeof request>) => {
        const real = await request(...args);
        await h.settle();
        await between();
        await new Promise((r) => setTimeout(r, 5)); // the reply comes later than the echo
        return reply(real);
      };
      return {
        seen,
        restore: () => {
          h.bus.request = request;
          unsubscribe();
        },
      };
    };
    /** The one record of an operator's disconnect: ADMIN_DISCONNECT by the actor, PENDING then SUCCESS, one event, one webhook row. */
    const operatorsEnd = async (sessionId: string, reason: string, confirmedBy: string, endedAt: number) => {
      const stored = (await h.store.sessions.findById(sessionId))!;
      assert.deepEqual(
        [stored.endCause, stored.endedByName, stored.endedByTokenId, stored.endReason, stored.endedAt],
        ['ADMIN_DISCONNECT', 'ops', 'tok_ops', reason, endedAt],
      );
      const audit = await auditOf(sessionId);
      assert.deepEqual(story(audit), ['PENDING', 'SUCCESS']);
      assert.equal(audit[0]!.metadata.confirmedBy, confirmedBy);
      assert.equal(audit[0]!.metadata.intentId, audit[1]!.metadata.intentId);
      const intent = await h.store.intents.findById(audit[0]!.metadata.intentId as string);
      assert.deepEqual([intent!.status, intent!.settledAuditEventId], ['DONE', audit[0]!.id]);
      // The relay publishes from the outbox (under load, a pass may come after this settle's).
      for (let i = 0; i < 50 && endedEvents(sessionId).length === 0; i++) await h.settle();
      await h.settle();
      assert.equal(endedEvents(sessionId).length, 1, 'one event');
      assert.equal((await deliveries(sessionId)).length, 1, 'one webhook row');
      return audit[0]!;
    };

    it("the daemon's report comes first: parked for the kill's reply, which settles the intent at the report's time, without reading the record back", async () => {
      const s = await online('erin');
      const admin = h.actor(['admin'], 'ops');
      const { seen, restore } = echoFirst();
      const findById = h.store.intents.findById.bind(h.store.intents);
      let readBack = 0;
      h.store.intents.findById = (id: string) => {
        readBack++;
        return findById(id);
      };
      try {
        const result = await h.core.disconnect(admin, s.id, { reason: 'echo first' });
        assert.equal(readBack, 0, 'the intent was not read back');
        assert.equal(result.outcome, 'DISCONNECTED');
        assert.ok(seen.echoAt > 0, 'the daemon echoed the kill');
        assert.deepEqual(
          [result.session.endCause, result.session.endedByName, result.session.endReason, result.session.endedAt],
          ['ADMIN_DISCONNECT', 'ops', 'echo first', seen.echoAt],
        );
      } finally {
        restore();
        h.store.intents.findById = findById;
      }
      const row = await operatorsEnd(s.id, 'echo first', 'GATEWAY_REPLY', seen.echoAt);
      assert.equal(row.metadata.endedAt, seen.echoAt, "the end at the daemon's report's time");
    });

    it('a parked report is applied through sync when the reply is not a confirmation: the same record as when sync applied it on arrival', async () => {
      const admin = h.actor(['admin'], 'ops');
      const cases: [string, (real: unknown) => unknown][] = [
        ['unconfirmed', () => versioned({ outcome: 'UNCONFIRMED', detail: 'the agent lost the daemon' })],
        [
          'timed out',
          () => {
            throw new BusTimeoutError(subjects.gatewayDisconnect('gw-a'));
          },
        ],
        ['not found', () => versioned({ outcome: 'NOT_FOUND' })],
      ];
      for (const [name, reply] of cases) {
        const s = await online(`parked-${name.replace(' ', '-')}`);
        const { seen, restore } = echoFirst(reply);
        try {
          const result = await h.core.disconnect(admin, s.id, { reason: name });
          assert.equal(result.outcome, 'DISCONNECTED', `${name}: the daemon's report settled it`);
        } finally {
          restore();
        }
        assert.ok(seen.echoAt > 0);
        await operatorsEnd(s.id, name, 'DAEMON_REPORT', seen.echoAt);
      }
    });

    it("a snapshot after a parked report: the report is applied first, in the gateway's order, and the reply takes its settlement", async () => {
      const s = await online('frank');
      const admin = h.actor(['admin'], 'ops');
      const { seen, restore } = echoFirst(undefined, async () => {
        await h.gateways[0]!.snapshot();
        await h.settle();
      });
      try {
        const result = await h.core.disconnect(admin, s.id, { reason: 'snapshot between' });
        assert.equal(result.outcome, 'DISCONNECTED');
      } finally {
        restore();
      }
      // Not the snapshot's end (its time, no counters): the daemon's report's, applied before it.
      await operatorsEnd(s.id, 'snapshot between', 'DAEMON_REPORT', seen.echoAt);
    });

    it("concurrent confirmations settle together, each at its own report's time; a grouped settlement that fails settles each alone", async () => {
      const admin = h.actor(['admin'], 'ops');
      for (const failing of [false, true]) {
        const reason = failing ? 'grouped, failing' : 'grouped';
        const sessions: Session[] = [];
        for (let i = 0; i < 4; i++) sessions.push(await online(`group-${String(failing)}-${i}`));
        // Each echo's time, by ref; every reply is held until all echoes reached sync (parked), then
        // all are handed back in the same turn, so their confirmations meet in one group commit.
        const echoAt = new Map<string, number>();
        const unsubscribe = h.bus.subscribe(subjects.allGatewayReports, (r) => {
          const report = r as { type: string; ref?: string; at: number };
          if (report.type === 'session.disconnected') echoAt.set(report.ref!, report.at);
        });
        const request = h.bus.request.bind(h.bus);
        let replied = 0;
        let release!: () => void;
        const all = new Promise<void>((r) => (release = r));
        h.bus.request = async (...args: Parameters<typeof request>) => {
          const real = await request(...args);
          if (++replied === sessions.length) {
            await h.settle();
            release();
          }
          await all;
          return real;
        };
        const settleMany = KyselyIntentRepository.prototype.settleMany;
        let grouped = 0;
        KyselyIntentRepository.prototype.settleMany = async function (
          this: KyselyIntentRepository,
          ...args: Parameters<typeof settleMany>
        ) {
          if (args[0].length > 1) {
            grouped++;
            if (failing) throw new Error('injected: the grouped settlement fails');
          }
          return settleMany.apply(this, args);
        };
        try {
          const results = await Promise.all(sessions.map((s) => h.core.disconnect(admin, s.id, { reason })));
          assert.deepEqual(
            results.map((r) => r.outcome),
            sessions.map(() => 'DISCONNECTED'),
          );
        } finally {
          h.bus.request = request;
          KyselyIntentRepository.prototype.settleMany = settleMany;
          unsubscribe();
        }
        assert.ok(grouped > 0, `${reason}: the confirmations were settled in one multi-row statement`);
        for (const s of sessions) {
          assert.ok(echoAt.has(s.ref), `${reason}: the daemon echoed ${s.userName}'s kill`);
          await operatorsEnd(s.id, reason, 'GATEWAY_REPLY', echoAt.get(s.ref)!);
        }
      }
    });

    it('unknown and already ended ids: SESSION_NOT_FOUND, audited, no gateway asked', async () => {
      const s = await online('bob');
      const admin = h.actor(['admin']);
      await h.core.disconnect(admin, s.id, {});
      const kills = h.gateways[0]!.commands.length;
      await assert.rejects(h.core.disconnect(admin, s.id, {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      await assert.rejects(h.core.disconnect(admin, 'sess_doesnotexist', {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      await assert.rejects(h.core.disconnect(admin, 'garbage', {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      assert.equal(h.gateways[0]!.commands.length, kills);
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING', 'SUCCESS', 'NOT_FOUND']);
      assert.equal((await auditOf('sess_doesnotexist'))[0]?.errorCode, 'SESSION_NOT_FOUND');
    });

    it('FORBIDDEN without admin or sessions:disconnect, audited, session untouched', async () => {
      const s = await online('carol');
      for (const scopes of [['sessions:read'], ['audit:read'], []] as const) {
        await assert.rejects(h.core.disconnect(h.actor([...scopes]), s.id, {}), (e) => code(e) === 'FORBIDDEN');
      }
      assert.ok(await h.store.sessions.findOnline(s.id));
      assert.equal(
        (await h.store.audit.list({ first: 10, filter: { targetSessionId: s.id, outcome: 'FORBIDDEN' } })).rows.length,
        3,
      );
      const r = await h.core.disconnect(h.actor(['sessions:disconnect']), s.id, { mode: 'RESTART' });
      assert.equal(r.session.endCause, 'ADMIN_DISCONNECT');
      assert.equal(h.gateways[0]!.commands.at(-1)!.mode, 'RESTART');
    });

    it('the store refuses the intent: the gateway is never asked and the caller gets an error', async () => {
      const s = await online('dora');
      const db = (h.store as KyselyStore).db;
      const kills = h.gateways[0]!.commands.length;
      if (dialect === 'postgres') {
        // PostgreSQL text cannot hold U+0000: the write fails (input hygiene is the API's; this is the last line).
        await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, { reason: 'nul \u0000 here' }));
      }
      await sql
        .raw(
          dialect === 'postgres'
            ? `create function refuse_intent() returns trigger language plpgsql as $$ begin raise exception 'refused'; end $$;
           create trigger refuse_intent before insert on disconnect_intents for each row execute function refuse_intent()`
            : `create trigger refuse_intent before insert on disconnect_intents begin select raise(abort, 'refused'); end`,
        )
        .execute(db);
      try {
        await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, { reason: 'plain' }));
      } finally {
        await sql
          .raw('drop trigger refuse_intent' + (dialect === 'postgres' ? ' on disconnect_intents' : ''))
          .execute(db);
      }
      assert.equal(h.gateways[0]!.commands.length, kills, 'no kill was sent');
      assert.ok(await h.store.sessions.findOnline(s.id), 'still online');
      assert.deepEqual(story(await auditOf(s.id)), [], 'nothing half-written');
      await h.core.disconnect(h.actor(['admin']), s.id, {});
    });

    it('NOT_SENT: link down answers 503 disconnect NOT_SENT ("still online"), settled as not sent', async () => {
      const s = await online('dave', 1);
      const gw = h.gateways[1]!;
      gw.state = 'down';
      await assert.rejects(
        h.core.disconnect(h.actor(['admin']), s.id, {}),
        (e) => is503('NOT_SENT')(e) && /still online/.test((e as Error).message),
      );
      assert.equal(gw.commands.length, 0, 'the adapter was not handed the command');
      assert.ok(await h.store.sessions.findOnline(s.id), 'still online');
      const audit = await auditOf(s.id);
      assert.deepEqual(story(audit), ['PENDING', 'GATEWAY_UNAVAILABLE']);
      assert.equal(audit[0]!.metadata.disconnect, 'NOT_SENT');
      assert.equal((await h.store.intents.findById(String(audit[0]!.metadata.intentId)))!.status, 'NOT_SENT');
      gw.state = 'up';
      await h.core.disconnect(h.actor(['admin']), s.id, {});
    });

    it('no agent serves the gateway (bus: no responders): NOT_SENT', async () => {
      const s = await online('dan', 1);
      await h.agents.stop();
      try {
        await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), is503('NOT_SENT'));
      } finally {
        h.agents.start();
      }
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING', 'GATEWAY_UNAVAILABLE']);
    });

    it('stalled daemon: 503 UNCONFIRMED ("may still take effect"); the late kill is recorded as the operator\'s, never the client\'s', async () => {
      const s = await online('erin');
      const gw = h.gateways[0]!;
      gw.state = 'stalled';
      gw.echoCause = 'CLIENT_DISCONNECT'; // what a kill that ran after its deadline looked like
      try {
        const ops = h.actor(['admin'], 'night-ops');
        await assert.rejects(
          h.core.disconnect(ops, s.id, { reason: 'stolen laptop', message: 'call us' }),
          (e) =>
            is503('UNCONFIRMED')(e) &&
            /may still take effect/.test((e as Error).message) &&
            !/still online/.test((e as Error).message),
        );
        assert.deepEqual(story(await auditOf(s.id)), ['PENDING'], 'the audit event stays pending');
        // Meanwhile another operator tries again: the same intent's kill is sent again (it queues too).
        const kills = gw.commands.length;
        await assert.rejects(
          h.core.disconnect(h.actor(['admin'], 'day-ops'), s.id, { reason: 'ignored: joins the pending one' }),
          is503('UNCONFIRMED'),
        );
        assert.equal(gw.commands.length, kills + 1);
        assert.equal(gw.commands.at(-1)!.message, 'call us', "the pending intent's kill, not a new one");
        gw.resume(); // the daemon runs the queued kills: the first ends the session, the second finds nothing
        await h.settle();
      } finally {
        gw.echoCause = 'ADMIN_DISCONNECT';
      }
      const stored = await h.store.sessions.findById(s.id);
      assert.deepEqual(
        [stored!.endCause, stored!.endedByTokenId, stored!.endedByName, stored!.endReason],
        ['ADMIN_DISCONNECT', 'tok_night-ops', 'night-ops', 'stolen laptop'],
      );
      const audit = await auditOf(s.id);
      assert.deepEqual(story(audit), ['PENDING', 'PENDING', 'SUCCESS']);
      assert.deepEqual(
        audit
          .filter((r) => r.outcome === 'PENDING')
          .map((r) => [r.actorName, r.metadata.resend ?? false])
          .sort(),
        [
          ['day-ops', true],
          ['night-ops', false],
        ],
      );
      assert.equal(new Set(audit.map((r) => r.metadata.intentId)).size, 1, 'one intent');
      const done = audit.find((r) => r.outcome === 'SUCCESS')!;
      assert.deepEqual(
        [done.actorName, done.metadata.late, done.metadata.confirmedBy],
        ['night-ops', true, 'DAEMON_REPORT'],
      );
      await h.settle(); // the relay publishes the events from the outbox
      const disc = endedEvents(s.id);
      assert.deepEqual(
        disc.map((e) => [e.cause, e.actor?.name, e.reason, e.message]),
        [['ADMIN_DISCONNECT', 'night-ops', 'stolen laptop', 'call us']],
      );
      assert.equal((await deliveries(s.id)).length, 1);
    });

    it("the echo is lost: a snapshot that lacks the session settles the pending intent as the operator's", async () => {
      const s = await online('fay');
      const gw = h.gateways[0]!;
      gw.state = 'silent';
      await assert.rejects(h.core.disconnect(h.actor(['admin'], 'ops2'), s.id, { reason: 'r' }), is503('UNCONFIRMED'));
      gw.state = 'up';
      gw.sessions.delete(s.ref); // the kill ran; its echo was lost
      await gw.snapshot();
      await h.settle();
      const stored = await h.store.sessions.findById(s.id);
      assert.deepEqual([stored!.endCause, stored!.endedByName, stored!.endReason], ['ADMIN_DISCONNECT', 'ops2', 'r']);
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING', 'SUCCESS']);
    });

    it('the horizon: still online and unconfirmed after it, the intent settles FAILED and the session stays online', async () => {
      const s = await online('gus');
      const gw = h.gateways[0]!;
      gw.state = 'silent';
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), is503('UNCONFIRMED'));
      gw.state = 'up';
      const early = new IntentHorizon({ store: h.store, logger: silentLogger, horizonMs: 60_000 });
      await early.sweep();
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING'], 'not yet');
      // A clock an hour ahead stands for the horizon having passed.
      const later = new IntentHorizon({
        store: h.store,
        logger: silentLogger,
        horizonMs: 60_000,
        now: () => Date.now() + 3_600_000,
      });
      await later.sweep();
      const audit = await auditOf(s.id);
      assert.deepEqual(story(audit), ['PENDING', 'FAILED']);
      assert.equal((await h.store.intents.findById(String(audit[0]!.metadata.intentId)))!.status, 'FAILED');
      assert.ok(await h.store.sessions.findOnline(s.id), 'still online');
      await h.core.disconnect(h.actor(['admin']), s.id, {}); // a new disconnect is possible again
    });

    it('an abandoned intent (never answered, its deadline long past: its replica died) is sent again and settled as its own', async () => {
      const s = await online('ivo');
      const old = {
        id: newIntentId(),
        sessionId: s.id,
        gatewayId: s.gatewayId,
        userName: s.userName,
        createdAt: Date.now() - 3_600_000,
        actorTokenId: 'tok_gone',
        actorName: 'gone',
        actorIp: null,
        actorUserAgent: null,
        actorRequestId: null,
        reason: null,
        message: null,
        mode: 'HALT' as const,
        blockSeconds: null,
        status: 'PENDING' as const,
        unconfirmedAt: null,
        settledAt: null,
        auditEventId: 'aud_none',
        settledAuditEventId: null,
      };
      assert.ok(await h.store.intents.insertIfNoPending(old));
      const r = await h.core.disconnect(h.actor(['admin'], 'now-ops'), s.id, {});
      assert.equal(r.session.endedByName, 'gone', "the end is the pending intent's");
      assert.equal((await h.store.intents.findById(old.id))!.status, 'DONE');
      const audit = await auditOf(s.id);
      assert.deepEqual(story(audit), ['PENDING', 'SUCCESS']);
      assert.deepEqual(audit.map((r) => [r.actorName, r.metadata.intentId]).sort(), [
        ['gone', old.id],
        ['now-ops', old.id],
      ]);
    });

    it('the daemon restarted before confirming: the session ends as GATEWAY_RESTART and the intent settles FAILED', async () => {
      const gw = h.gateways[1]!;
      const s = await online('hal', 1);
      gw.state = 'silent';
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), is503('UNCONFIRMED'));
      gw.restart();
      await h.settle();
      assert.equal((await h.store.sessions.findById(s.id))!.endCause, 'GATEWAY_RESTART');
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING', 'FAILED']);
    });

    it('the daemon no longer knows the session: SESSION_NOT_FOUND, the session is ended, settled not found', async () => {
      const s = await online('ida');
      h.gateways[0]!.sessions.delete(s.ref); // gone on the daemon, the echo was lost
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      assert.equal((await h.store.sessions.findById(s.id))!.endCause, 'CLIENT_DISCONNECT');
      assert.deepEqual(story(await auditOf(s.id)), ['PENDING', 'NOT_FOUND']);
    });

    it('20 concurrent disconnects of one session: exactly one true, the rest SESSION_NOT_FOUND, one kill, all audited', async () => {
      const s = await online('frank');
      h.gateways[0]!.delayMs = 20;
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => h.core.disconnect(h.actor(['admin']), s.id, {})),
      );
      h.gateways[0]!.delayMs = 0;
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(rejected.length, 19);
      assert.ok(rejected.every((r) => code(r.reason) === 'SESSION_NOT_FOUND'));
      assert.equal(h.gateways[0]!.commands.filter((c) => c.ref === s.ref).length, 1, 'the daemon got one kill');
      const outcomes = story(await auditOf(s.id));
      assert.deepEqual(
        [
          outcomes.length,
          outcomes.filter((o) => o === 'SUCCESS').length,
          outcomes.filter((o) => o === 'PENDING').length,
        ],
        [21, 1, 1],
      );
    });

    it('blockSeconds is validated and passed to the gateway', async () => {
      const s = await online('gina');
      await assert.rejects(
        h.core.disconnect(h.actor(['admin']), s.id, { blockSeconds: -1 }),
        (e) => code(e) === 'BAD_USER_INPUT',
      );
      await h.core.disconnect(h.actor(['admin']), s.id, { blockSeconds: 60 });
      assert.equal(h.gateways[0]!.commands.at(-1)!.blockSeconds, 60);
    });
  });
}
