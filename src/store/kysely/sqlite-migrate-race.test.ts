/**
 * Several processes opening one new SQLite file at once (a `switchboard start` and a CLI command, two
 * starts) all migrate it: Kysely's migration lock holds within one process only, so the processes
 * that lose the race must find the winner's migrations applied instead of failing on its tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openStore } from './kysely-store.js';

const run = promisify(execFile);
const STORE = new URL('./kysely-store.ts', import.meta.url).href;

test(
  'four processes migrating one new SQLite file at once all succeed, and the schema is whole',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-migrate-race-'));
    const file = join(dir, 'race.db');
    try {
      const script = `const { openStore } = await import(${JSON.stringify(STORE)}); const s = await openStore(${JSON.stringify(file)}); await s.close(); console.log('ok');`;
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () =>
          run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]),
        ),
      );
      for (const r of results) {
        assert.equal(
          r.status,
          'fulfilled',
          r.status === 'rejected' ? String((r.reason as { stderr?: string }).stderr ?? r.reason) : '',
        );
      }
      const store = await openStore(file);
      try {
        assert.equal(await store.tokens.count(), 0, 'the migrated schema answers');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
