/**
 * Blocks after they are set, on both stores: a confirmed disconnect with `blockSeconds` leaves a block
 * in the store, `blocks` lists it (sessions:read), `liftBlock` ends it (sessions:disconnect, audited)
 * and tells the agent at once, and an agent gets the store's list with every snapshot it sends.
 * (The real-OpenVPN proof that the daemon enforces it is test/openvpn-identity.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseFor, postgresSkipReason } from '../../test/support/postgres.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { waitFor } from '../../test/support/wait.js';
import { isDomainError } from '../domain/errors.js';

const pgSkip = await postgresSkipReason();
const code = (e: unknown) => (isDomainError(e) ? e.code : String(e));

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`blocks on ${dialect}`, { skip: dialect === 'postgres' ? pgSkip : false }, () => {
    let h: CoreHarness;
    let drop: (() => Promise<void>) | undefined;
    let stopBlocks: () => void;
    before(async () => {
      const db = await databaseFor(dialect);
      drop = db.drop;
      const url = db.url;
      h = await startCoreHarness(url);
      stopBlocks = h.core.deliverBlocks(h.sync);
    });
    after(async () => {
      stopBlocks?.();
      await h?.close();
      await drop?.();
    });

    it("a confirmed disconnect with blockSeconds is listed as a block of the session's user", async () => {
      const gw = h.gateways[0]!;
      const report = gw.connect('mallory');
      await h.settle();
      const s = (await h.store.sessions.findByRef('gw-a', report.ref))!;
      const before = Date.now();
      await h.core.disconnect(h.actor(['sessions:disconnect'], 'ops'), s.id, {
        blockSeconds: 600,
        reason: 'stolen laptop',
        message: 'Call the help desk.',
      });
      const blocks = await h.core.blocks(h.actor(['sessions:read']), { gatewayId: 'gw-a' });
      assert.equal(blocks.length, 1);
      const [b] = blocks;
      assert.deepEqual(
        [b!.userName, b!.blockedByName, b!.reason, b!.message, b!.sessionId],
        ['mallory', 'ops', 'stolen laptop', 'Call the help desk.', s.id],
      );
      assert.ok(b!.until >= before + 600_000 && b!.until <= Date.now() + 600_000);
      assert.deepEqual(await h.core.blocks(h.actor(['sessions:read']), { userName: 'nobody' }), []);
      await assert.rejects(h.core.blocks(h.actor(['audit:read'])), (e) => code(e) === 'FORBIDDEN');
    });

    it("each snapshot the agent sends brings it the store's list (so a restarted agent enforces it again)", async () => {
      const gw = h.gateways[0]!;
      const lists = gw.blockLists.length;
      await gw.snapshot();
      await h.settle();
      const latest = await waitFor(
        () => (gw.blockLists.length > lists ? gw.blockLists.at(-1) : undefined),
        2000,
        'a block list at the agent',
      );
      assert.deepEqual(
        latest.blocks.map((b) => b.userName),
        ['mallory'],
      );
      assert.equal(
        h.gateways[1]!.blockLists.every((l) => l.blocks.length === 0),
        true,
        'another gateway gets only its own',
      );
    });

    it('liftBlock: sessions:read may not (audited FORBIDDEN); sessions:disconnect may, once; the agent is told at once', async () => {
      const gw = h.gateways[0]!;
      const target = { gatewayId: 'gw-a', userName: 'mallory' };
      await assert.rejects(h.core.liftBlock(h.actor(['sessions:read']), target), (e) => code(e) === 'FORBIDDEN');
      const lists = gw.blockLists.length;
      const lifted = await h.core.liftBlock(h.actor(['sessions:disconnect'], 'ops2'), {
        ...target,
        reason: 'laptop found',
      });
      assert.equal(lifted.userName, 'mallory');
      const told = await waitFor(
        () => (gw.blockLists.length > lists ? gw.blockLists.at(-1) : undefined),
        2000,
        'a block list at the agent',
      );
      assert.deepEqual(told, { blocks: [], lifted: ['mallory'] });
      assert.deepEqual(
        await h.core.blocks(h.actor(['sessions:read'])).then((all) => all.filter((b) => b.gatewayId === 'gw-a')),
        [],
      );
      await assert.rejects(h.core.liftBlock(h.actor(['admin']), target), (e) => code(e) === 'BLOCK_NOT_FOUND');
      const audit = await h.store.audit.list({ first: 10, filter: { action: 'block.lift', targetGatewayId: 'gw-a' } });
      // Three rows, one per attempt. Not compared in order: two attempts can fall in the same
      // millisecond, and rows of one millisecond list by id, which is random.
      assert.deepEqual(audit.rows.map((a) => [a.outcome, a.actorName, a.reason]).sort(), [
        ['FORBIDDEN', 'tester', null],
        ['NOT_FOUND', 'tester', null],
        ['SUCCESS', 'ops2', 'laptop found'],
      ]);
    });
  });
}
