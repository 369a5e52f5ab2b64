/**
 * A disconnect with `blockSeconds` on a gateway that cannot block is refused before anything is
 * asked of the gateway: BLOCK_UNSUPPORTED, nothing sent, the session online, the refusal audited.
 * (The real-OpenVPN proof is test/openvpn-blocks.test.ts; this pins the order on both stores.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseFor, postgresSkipReason } from '../../test/support/postgres.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { isDomainError } from '../domain/errors.js';

const pgSkip = await postgresSkipReason();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`BLOCK_UNSUPPORTED on ${dialect}`, { skip: dialect === 'postgres' ? pgSkip : false }, () => {
    let h: CoreHarness;
    let drop: (() => Promise<void>) | undefined;
    before(async () => {
      const db = await databaseFor(dialect);
      drop = db.drop;
      const url = db.url;
      h = await startCoreHarness(url, { prepare: (gws) => Object.assign(gws[1]!.config, { mode: 'observe' }) });
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });

    it('gateways say whether they can block, as their agents report', async () => {
      const views = await h.core.gateways(h.actor(['sessions:read']));
      assert.deepEqual(
        views.map((g) => [g.id, g.mode, g.canBlock]),
        [
          ['gw-a', 'authorize', true],
          ['gw-b', 'observe', false],
        ],
      );
    });

    it('observe gateway: refused, nothing sent, session still online, audited as REFUSED', async () => {
      const observe = h.gateways[1]!;
      const report = observe.connect('olga');
      await h.settle();
      const s = (await h.store.sessions.findByRef('gw-b', report.ref))!;
      await assert.rejects(
        h.core.disconnect(h.actor(['admin']), s.id, { blockSeconds: 60 }),
        (e) => isDomainError(e) && e.code === 'BLOCK_UNSUPPORTED',
      );
      assert.equal(observe.commands.length, 0, 'no disconnect request reached the gateway');
      assert.ok(await h.store.sessions.findOnline(s.id), 'still online');
      const audit = await h.store.audit.list({ first: 5, filter: { targetSessionId: s.id } });
      assert.deepEqual(
        audit.rows.map((a) => [a.action, a.outcome, a.errorCode, a.metadata.blockSeconds]),
        [['session.disconnect', 'REFUSED', 'BLOCK_UNSUPPORTED', 60]],
      );
      // Without a block the same session ends as usual.
      await h.core.disconnect(h.actor(['admin']), s.id, {});
      assert.equal(observe.commands.length, 1);
    });
  });
}
