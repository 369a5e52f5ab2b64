/**
 * Support for the tests of one migration on a database that already has rows (the store's unit
 * tests only): migrate up to it, write rows as they were written then, and run the same check on a
 * SQLite file and on a fresh PostgreSQL database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Kysely, Migrator, type Migration } from 'kysely';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import type { Database, DialectName } from './database.js';
import { createDialect, parseDatabaseUrl } from './dialect.js';
import { migrationProvider } from './migrations/migration-provider.js';

/** Migrates `url` up to, not including, migration `before`, then lets `seed` write the rows of that time. */
export async function seedBefore(
  url: string,
  before: string,
  seed: (db: Kysely<Database>, dialect: DialectName) => Promise<void>,
): Promise<void> {
  const { dialect, name } = createDialect(parseDatabaseUrl(url));
  const db = new Kysely<Database>({ dialect });
  try {
    const all = await migrationProvider(name).getMigrations();
    const earlier: Record<string, Migration> = {};
    for (const [id, migration] of Object.entries(all)) if (id < before) earlier[id] = migration;
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => earlier } }).migrateToLatest();
    if (error) throw error;
    await seed(db, name);
  } finally {
    await db.destroy();
  }
}

const pgSkip = await postgresSkipReason();

/** `check(url)` on a SQLite file and on a fresh PostgreSQL database, as two tests named `what`. */
export function onBothStores(suite: string, what: string, check: (url: string) => Promise<void>): void {
  describe(suite, () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-upgrade-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test(`SQLite: ${what}`, async () => {
      await check(`sqlite:${join(dir, 'upgrade.db')}`);
    });

    test(`PostgreSQL: ${what}`, { skip: pgSkip }, async () => {
      const fresh = await createFreshPostgresDatabase();
      try {
        await check(fresh.url);
      } finally {
        await fresh.drop();
      }
    });
  });
}
