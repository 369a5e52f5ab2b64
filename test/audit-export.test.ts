/**
 * `switchboard audit export` as a separate process: its JSON lines parse back into exactly the
 * store's audit events for the window, in the store's order, across several pages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/kysely/kysely-store.js';
import { makeAudit, T0 } from '../src/store/contract/fixtures.js';
import type { AuditEvent } from '../src/domain/audit.js';
import { SwitchboardProcess } from './support/switchboard-process.js';

test('audit export --since --until round-trips the window, 1 200 events over three pages', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-audit-'));
  const db = join(dir, 'audit.db');
  try {
    const store = await openStore(db);
    const events: AuditEvent[] = [];
    for (let i = 0; i < 1300; i++) {
      events.push(
        makeAudit({
          at: T0 + Math.floor(i / 3) * 1000, // ties on `at`: the keyset must page through them
          action: i % 2 ? 'session.disconnect' : 'token.create',
          targetUserName: i % 5 === 0 ? `user "${i}"\n` : null,
          metadata: { i, nested: { list: [i, 'x'] } },
        }),
      );
    }
    await store.transaction(async (tx) => {
      for (const e of events) await tx.audit.append(e);
    });
    const since = T0 + 10_000;
    const until = T0 + 410_000;
    const expected: AuditEvent[] = [];
    for (let after = null; ;) {
      const page = await store.audit.list({ first: 200, after, filter: { since, until } });
      expected.push(...page.rows);
      if (!page.hasNextPage) break;
      after = { at: page.rows.at(-1)!.at, id: page.rows.at(-1)!.id };
    }
    await store.close();
    assert.equal(expected.length, 1200);

    const p = SwitchboardProcess.start(
      'audit export',
      ['audit', 'export', '--since', new Date(since).toISOString(), '--until', new Date(until).toISOString()],
      {
        SWITCHBOARD_DATABASE_URL: db,
        SWITCHBOARD_LOG_LEVEL: 'silent',
      },
    );
    await p.waitExited();
    assert.equal(p.exitCode, 0, p.tail());
    const lines = p.stdout().trimEnd().split('\n');
    const parsed = lines.map((l) => {
      const e = JSON.parse(l) as AuditEvent & { at: string };
      assert.match(e.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      return { ...e, at: Date.parse(e.at) };
    });
    assert.deepEqual(parsed, expected);

    const bad = SwitchboardProcess.start('audit export bad', ['audit', 'export', '--since', 'yesterday'], {
      SWITCHBOARD_DATABASE_URL: db,
    });
    await bad.waitExited();
    assert.equal(bad.exitCode, 2);
    assert.match(bad.output(), /--since 'yesterday' is not an ISO-8601 date-time/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
