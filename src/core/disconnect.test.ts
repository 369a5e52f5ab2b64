import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '../domain/errors.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { createFreshPostgresDatabase, postgresAvailable } from '../../test/support/postgres.js';

const code = (e: unknown) => (e instanceof DomainError ? e.code : String(e));

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`disconnect use case on ${dialect}`, async () => {
    let h: CoreHarness;
    let drop: (() => Promise<void>) | undefined;
    const pgMissing = dialect === 'postgres' && !(await postgresAvailable());
    if (pgMissing && process.env.CI === 'true') throw new Error('PostgreSQL is required in CI but not reachable on 127.0.0.1:5432');

    before(async () => {
      if (pgMissing) return;
      let url = join(mkdtempSync(join(tmpdir(), 'sb-core-')), 'core.db');
      if (dialect === 'postgres') {
        const fresh = await createFreshPostgresDatabase();
        url = fresh.url;
        drop = fresh.drop;
      }
      h = await startCoreHarness(url, { deadlineMs: 300 });
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });
    const it = (name: string, fn: () => Promise<void>) => test(name, { skip: pgMissing && 'PostgreSQL not reachable' }, fn);

    const online = async (userName: string, gw = 0) => {
      const report = h.gateways[gw]!.connect(userName);
      await h.settle();
      const s = await h.store.sessions.findByRef(h.gateways[gw]!.config.id, report.ref);
      assert.ok(s && s.endedAt === null, 'session is online');
      return s;
    };

    it('ends the session, records actor and reason in one transaction, audits SUCCESS, publishes after commit', async () => {
      const s = await online('alice');
      const events: unknown[] = [];
      const off = h.bus.subscribe('events.session', (e) => void events.push(e));
      const admin = h.actor(['admin'], 'ops');
      const result = await h.core.disconnect(admin, s.id, { reason: 'incident 42', message: 'bye' });
      assert.equal(result.outcome, 'DISCONNECTED');
      assert.equal(result.session.endCause, 'ADMIN_DISCONNECT');
      assert.equal(result.session.endedByName, 'ops');
      assert.equal(result.session.endReason, 'incident 42');
      assert.equal(h.gateways[0]!.commands.at(-1)!.mode, 'HALT');
      assert.equal(await h.store.sessions.findOnline(s.id), null);
      await h.settle();
      const stored = await h.store.sessions.findById(s.id);
      assert.equal(stored!.endedByTokenId, 'tok_ops', 'the daemon echo did not overwrite the actor');
      const audit = await h.store.audit.list({ first: 5, filter: { targetSessionId: s.id } });
      assert.equal(audit.rows.length, 1);
      assert.equal(audit.rows[0]!.id, result.auditEventId);
      assert.equal(audit.rows[0]!.outcome, 'SUCCESS');
      assert.equal(audit.rows[0]!.reason, 'incident 42');
      await h.settle(); // the relay publishes the event from the outbox
      off();
      const disc = events.filter((e) => (e as { type: string }).type === 'session.disconnected');
      assert.equal(disc.length, 1, 'exactly one disconnected event (the echo publishes none)');
      assert.equal((disc[0] as { actor: { name: string } }).actor.name, 'ops');
    });

    it('unknown and already ended ids: SESSION_NOT_FOUND, audited', async () => {
      const s = await online('bob');
      const admin = h.actor(['admin']);
      await h.core.disconnect(admin, s.id, {});
      await assert.rejects(h.core.disconnect(admin, s.id, {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      await assert.rejects(h.core.disconnect(admin, 'sess_doesnotexist', {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      await assert.rejects(h.core.disconnect(admin, 'garbage', {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      const audit = await h.store.audit.list({ first: 10, filter: { targetSessionId: s.id } });
      assert.deepEqual(audit.rows.map((r) => r.outcome).sort(), ['NOT_FOUND', 'SUCCESS']);
      const unknown = await h.store.audit.list({ first: 10, filter: { targetSessionId: 'sess_doesnotexist' } });
      assert.equal(unknown.rows[0]?.errorCode, 'SESSION_NOT_FOUND');
    });

    it('FORBIDDEN without admin or sessions:disconnect, audited, session untouched', async () => {
      const s = await online('carol');
      for (const scopes of [['sessions:read'], ['audit:read'], []] as const) {
        await assert.rejects(h.core.disconnect(h.actor([...scopes]), s.id, {}), (e) => code(e) === 'FORBIDDEN');
      }
      assert.ok(await h.store.sessions.findOnline(s.id));
      const audit = await h.store.audit.list({ first: 10, filter: { targetSessionId: s.id, outcome: 'FORBIDDEN' } });
      assert.equal(audit.rows.length, 3);
      const r = await h.core.disconnect(h.actor(['sessions:disconnect']), s.id, { mode: 'RESTART' });
      assert.equal(r.session.endCause, 'ADMIN_DISCONNECT');
      assert.equal(h.gateways[0]!.commands.at(-1)!.mode, 'RESTART');
    });

    it('gateway down or silent: GATEWAY_UNAVAILABLE within the deadline, session stays online, audited', async () => {
      const s = await online('dave', 1);
      const gw = h.gateways[1]!;
      gw.state = 'silent';
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), (e) => code(e) === 'GATEWAY_UNAVAILABLE');
      gw.state = 'down';
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), (e) => code(e) === 'GATEWAY_UNAVAILABLE');
      assert.ok(await h.store.sessions.findOnline(s.id), 'still online');
      const audit = await h.store.audit.list({ first: 10, filter: { targetSessionId: s.id } });
      assert.deepEqual(audit.rows.map((r) => r.outcome), ['GATEWAY_UNAVAILABLE', 'GATEWAY_UNAVAILABLE']);
      gw.state = 'up';
      await h.core.disconnect(h.actor(['admin']), s.id, {});
    });

    it('the daemon no longer knows the session: SESSION_NOT_FOUND and the session is ended', async () => {
      const s = await online('erin');
      h.gateways[0]!.sessions.delete(s.ref); // gone on the daemon, the echo was lost
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, {}), (e) => code(e) === 'SESSION_NOT_FOUND');
      const stored = await h.store.sessions.findById(s.id);
      assert.equal(stored!.endCause, 'CLIENT_DISCONNECT');
    });

    it('20 concurrent disconnects of one session: exactly one true, the rest SESSION_NOT_FOUND, all audited', async () => {
      const s = await online('frank');
      h.gateways[0]!.delayMs = 20;
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => h.core.disconnect(h.actor(['admin']), s.id, {})));
      h.gateways[0]!.delayMs = 0;
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(rejected.length, 19);
      assert.ok(rejected.every((r) => code(r.reason) === 'SESSION_NOT_FOUND'));
      assert.equal(h.gateways[0]!.commands.filter((c) => c.ref === s.ref).length, 1, 'the daemon got one kill');
      const audit = await h.store.audit.list({ first: 50, filter: { targetSessionId: s.id } });
      assert.equal(audit.rows.length, 20);
      assert.equal(audit.rows.filter((r) => r.outcome === 'SUCCESS').length, 1);
    });

    it('blockSeconds is validated and passed to the gateway', async () => {
      const s = await online('gina');
      await assert.rejects(h.core.disconnect(h.actor(['admin']), s.id, { blockSeconds: -1 }), (e) => code(e) === 'BAD_USER_INPUT');
      await h.core.disconnect(h.actor(['admin']), s.id, { blockSeconds: 60 });
      assert.equal(h.gateways[0]!.commands.at(-1)!.blockSeconds, 60);
    });
  });
}
