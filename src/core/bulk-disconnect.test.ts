import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '../domain/errors.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';

const code = (e: unknown) => (e instanceof DomainError ? e.code : String(e));

describe('bulk disconnect (core, SQLite, gateway doubles)', () => {
  let h: CoreHarness;
  const dir = mkdtempSync(join(tmpdir(), 'sb-bulk-'));
  before(async () => {
    h = await startCoreHarness(join(dir, 'core.db'), { gatewayIds: ['gw-a', 'gw-b', 'gw-c'], deadlineMs: 300 });
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = () => h.actor(['admin'], 'ops');

  test('an empty filter is refused unless all: true; the scope is checked first', async () => {
    await assert.rejects(h.core.disconnectSessions(admin(), {}), (e) => code(e) === 'BAD_USER_INPUT');
    await assert.rejects(h.core.disconnectSessions(admin(), { filter: {} }), (e) => code(e) === 'BAD_USER_INPUT');
    for (const filter of [{ userNameContains: '' }, { userNameContains: '', gatewayId: 'gw-a' }])
      await assert.rejects(
        h.core.disconnectSessions(admin(), { filter }),
        (e) => code(e) === 'BAD_USER_INPUT' && /userNameContains is empty/.test((e as Error).message),
      );
    await assert.rejects(
      h.core.disconnectSessions(h.actor(['sessions:read']), { filter: { userName: 'x' } }),
      (e) => code(e) === 'FORBIDDEN',
    );
    const refused = await h.store.audit.list({
      first: 5,
      filter: { action: 'session.bulk_disconnect', outcome: 'FORBIDDEN' },
    });
    assert.deepEqual(
      refused.rows.map((e) => [e.targetUserName, e.errorCode]),
      [['x', 'FORBIDDEN']],
    );
  });

  test('a user on three gateways: ended on two, one gateway down fails (not sent) with its error; others untouched; each audited, intent first', async () => {
    const [a, b, c] = h.gateways;
    const mine = [a!.connect('mallory'), a!.connect('mallory'), b!.connect('mallory'), c!.connect('mallory')];
    const other = a!.connect('alice');
    await h.settle();
    c!.state = 'down';
    const result = await h.core.disconnectSessions(admin(), {
      filter: { userName: 'mallory' },
      reason: 'compromised',
      message: 'Call the help desk',
    });
    await h.settle();
    const failedId = (await h.store.sessions.findByRef('gw-c', mine[3]!.ref))!.id;
    assert.deepEqual(
      { ...result, results: undefined },
      {
        matched: 4,
        ended: 3,
        alreadyGone: 0,
        failed: 1,
        errors: [
          {
            sessionId: failedId,
            code: 'GATEWAY_UNAVAILABLE',
            message: 'The disconnect could not be sent to the gateway; the session is still online',
            disconnect: 'NOT_SENT',
          },
        ],
        results: undefined,
      },
    );
    assert.deepEqual(
      result.results.filter((r) => r.outcome !== 'ENDED'),
      [{ sessionId: failedId, outcome: 'NOT_SENT', code: 'GATEWAY_UNAVAILABLE' }],
    );
    assert.equal(result.results.length, 4);
    assert.ok(await h.store.sessions.findOnline(failedId), 'the failed one is still online');
    assert.ok(
      await h.store.sessions.findOnline((await h.store.sessions.findByRef('gw-a', other.ref))!.id),
      'alice untouched',
    );
    assert.deepEqual(
      a!.commands.map((x) => [x.userName, x.message]),
      [
        ['mallory', 'Call the help desk'],
        ['mallory', 'Call the help desk'],
      ],
    );
    const audit = await h.store.audit.list({ first: 50, filter: { targetUserName: 'mallory' } });
    const singles = audit.rows
      .filter((e) => e.action === 'session.disconnect')
      .map((e) => e.outcome)
      .sort();
    assert.deepEqual(singles, [
      'GATEWAY_UNAVAILABLE',
      'PENDING',
      'PENDING',
      'PENDING',
      'PENDING',
      'SUCCESS',
      'SUCCESS',
      'SUCCESS',
    ]);
    const summary = audit.rows.find((e) => e.action === 'session.bulk_disconnect');
    assert.equal(summary?.outcome, 'FAILED');
    assert.deepEqual(
      { matched: summary?.metadata.matched, ended: summary?.metadata.ended, failed: summary?.metadata.failed },
      { matched: 4, ended: 3, failed: 1 },
    );
    c!.state = 'up';
  });

  test('a session that ended by itself before its turn counts as already gone', async () => {
    const [a] = h.gateways;
    const r1 = a!.connect('trent');
    a!.connect('trent');
    await h.settle();
    a!.sessions.delete(r1.ref); // the daemon no longer knows it; the store has not heard yet
    const result = await h.core.disconnectSessions(admin(), { filter: { userName: 'trent', gatewayId: 'gw-a' } });
    assert.deepEqual(
      { ...result, errors: result.errors.length, results: result.results.map((r) => r.outcome).sort() },
      { matched: 2, ended: 1, alreadyGone: 1, failed: 0, errors: 0, results: ['ALREADY_GONE', 'ENDED'] },
    );
  });

  test('sessionIds: exactly the chosen sessions, each with its own outcome; not together with a filter', async () => {
    const [a, , c] = h.gateways;
    const chosen = [a!.connect('ivy'), a!.connect('jay'), c!.connect('kim')];
    const untouched = a!.connect('lou');
    await h.settle();
    const id = async (gw: string, ref: string) => (await h.store.sessions.findByRef(gw, ref))!.id;
    const ids = [await id('gw-a', chosen[0]!.ref), await id('gw-a', chosen[1]!.ref), await id('gw-c', chosen[2]!.ref)];
    a!.sessions.delete(chosen[1]!.ref); // ended by itself before its turn
    c!.state = 'down';
    const result = await h.core.disconnectSessions(admin(), { sessionIds: [...ids, ids[0]!], reason: 'chosen rows' });
    c!.state = 'up';
    assert.deepEqual(
      { matched: result.matched, ended: result.ended, alreadyGone: result.alreadyGone, failed: result.failed },
      { matched: 3, ended: 1, alreadyGone: 1, failed: 1 },
    );
    assert.deepEqual(result.results, [
      { sessionId: ids[0], outcome: 'ENDED', code: null },
      { sessionId: ids[1], outcome: 'ALREADY_GONE', code: 'SESSION_NOT_FOUND' },
      { sessionId: ids[2], outcome: 'NOT_SENT', code: 'GATEWAY_UNAVAILABLE' },
    ]);
    assert.ok(await h.store.sessions.findOnline(await id('gw-a', untouched.ref)), 'an unchosen session is untouched');
    assert.ok(await h.store.sessions.findOnline(ids[2]!), 'not sent: still online');
    await assert.rejects(
      h.core.disconnectSessions(admin(), { sessionIds: [ids[2]!], filter: { userName: 'kim' } }),
      (e) => code(e) === 'BAD_USER_INPUT',
    );
    await assert.rejects(h.core.disconnectSessions(admin(), { sessionIds: [] }), (e) => code(e) === 'BAD_USER_INPUT');
    const summary = (await h.store.audit.list({ first: 1, filter: { action: 'session.bulk_disconnect' } })).rows[0];
    assert.deepEqual(summary?.metadata.sessionIds, ids);
  });

  test('all: true ends every online session', async () => {
    h.gateways[1]!.connect('zed');
    await h.settle();
    const online = await h.store.sessions.countOnline();
    const result = await h.core.disconnectSessions(admin(), { all: true, mode: 'RESTART' });
    assert.equal(result.matched, online);
    assert.equal(result.ended + result.alreadyGone, online);
    assert.equal(await h.store.sessions.countOnline(), 0);
  });
});
