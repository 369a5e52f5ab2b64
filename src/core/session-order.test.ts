import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '../domain/errors.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import type { SessionOrder } from '../store/store.js';

describe('onlineSessions: orderBy pages by its own cursors; find by part of a name or an address', () => {
  let h: CoreHarness;
  const dir = mkdtempSync(join(tmpdir(), 'sb-order-'));
  before(async () => {
    h = await startCoreHarness(join(dir, 'core.db'), { gatewayIds: ['gw-a'], deadlineMs: 300 });
    for (const user of ['Carol', 'alice', 'bob', 'Dave', 'erin']) h.gateways[0]!.connect(user);
    await h.settle();
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const reader = () => h.actor(['sessions:read']);

  async function names(order: SessionOrder | undefined, first: number): Promise<string[]> {
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const c = await h.core.onlineSessions(reader(), { first, after, order });
      seen.push(...c.edges.map((e) => e.node.userName));
      if (!c.pageInfo.hasNextPage) return seen;
      after = c.pageInfo.endCursor;
    }
    throw new Error('never reached the last page');
  }

  test('by user, both directions, over pages of two; the default stays newest first', async () => {
    assert.deepEqual(await names({ field: 'USER', direction: 'ASC' }, 2), ['alice', 'bob', 'Carol', 'Dave', 'erin']);
    assert.deepEqual(await names({ field: 'USER', direction: 'DESC' }, 2), ['erin', 'Dave', 'Carol', 'bob', 'alice']);
    assert.equal((await names(undefined, 2)).length, 5);
    assert.deepEqual(
      await names({ field: 'CONNECTED_AT', direction: 'DESC' }, 2),
      await names(undefined, 2),
      'the default order, by its own name',
    );
  });

  test('a cursor of one order is refused by another (BAD_CURSOR)', async () => {
    const byUser = await h.core.onlineSessions(reader(), { first: 1, order: { field: 'USER', direction: 'ASC' } });
    const newest = await h.core.onlineSessions(reader(), { first: 1 });
    const code = (e: unknown) => (e instanceof DomainError ? e.code : String(e));
    await assert.rejects(
      h.core.onlineSessions(reader(), {
        first: 1,
        after: byUser.pageInfo.endCursor,
        order: { field: 'USER', direction: 'DESC' },
      }),
      (e) => code(e) === 'BAD_CURSOR',
    );
    await assert.rejects(
      h.core.onlineSessions(reader(), { first: 1, after: byUser.pageInfo.endCursor }),
      (e) => code(e) === 'BAD_CURSOR',
    );
    await assert.rejects(
      h.core.onlineSessions(reader(), {
        first: 1,
        after: newest.pageInfo.endCursor,
        order: { field: 'TRAFFIC', direction: 'ASC' },
      }),
      (e) => code(e) === 'BAD_CURSOR',
    );
  });

  test('userNameContains ignores case; totalCount counts all pages', async () => {
    const c = await h.core.onlineSessions(reader(), { first: 1, filter: { userNameContains: 'A' } });
    assert.equal(await c.totalCount(), 3, 'alice, Carol, Dave');
    const address = c.edges[0]!.node.clientAddress!;
    const byAddress = await h.core.onlineSessions(reader(), { first: 10, filter: { address } });
    assert.deepEqual(
      byAddress.edges.map((e) => e.node.id),
      [c.edges[0]!.node.id],
    );
  });
});
