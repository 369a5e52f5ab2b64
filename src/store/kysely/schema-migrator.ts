/**
 * Brings a database's schema up to date, or says clearly why it cannot. On PostgreSQL the schema
 * belongs to an owner role that runs migrations (`switchboard migrate`); replicas may run as a
 * runtime role that may not create or alter tables (docs/many-hosts.md). Such a role finds nothing
 * to do when the owner has migrated, and a one-line error naming the fix when it has not — instead
 * of PostgreSQL's "permission denied for schema public", or, where the runtime role may create
 * tables (PostgreSQL 14 and older by default), tables it would own and could then alter at will.
 */
import { Migrator, sql, type Kysely } from 'kysely';
import type { Database, DialectName } from './database.js';
import { migrationProvider } from './migrations/migration-provider.js';
import { StoreSetupError } from './store-setup-error.js';
import type { Logger } from '../../domain/logger.js';
import { errorText } from '../../domain/errors.js';

/** PostgreSQL's SQLSTATE for "insufficient privilege" (also "must be owner of …"). */
const PG_INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Applies every migration not yet applied and returns their ids (empty when the schema was current).
 * Checking first costs one read and spares a role without DDL rights the migration lock and the
 * attempt. Several processes migrating at once stay safe: on PostgreSQL the migrator takes a lock,
 * then rechecks; on SQLite its lock holds within one process only, so a process that loses the race
 * to another one migrating the same file (its DDL fails: "table … already exists") waits for the
 * winner's commit and finds nothing left to apply.
 */
export async function migrateSchema(db: Kysely<Database>, dialect: DialectName, logger?: Logger): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const pending = (await migrator.getMigrations()).filter((m) => m.executedAt === undefined);
  if (pending.length === 0) return [];
  if (dialect === 'postgres') await refuseUnlessOwner(db, pending.length);

  const { error, results } = await migrator.migrateToLatest();
  if (error && dialect === 'sqlite' && (await appliedByAnother(migrator))) return [];
  const applied: string[] = [];
  for (const r of results ?? []) {
    if (r.status === 'Success') {
      applied.push(r.migrationName);
      logger?.info({ migration: r.migrationName, dialect }, 'applied database migration');
    }
    if (r.status === 'Error') logger?.error({ migration: r.migrationName, dialect }, 'database migration failed');
  }
  if (error) {
    if (dialect === 'postgres' && (error as { code?: unknown }).code === PG_INSUFFICIENT_PRIVILEGE) {
      throw new StoreSetupError(
        `${await notOwnerMessage(db, pending.length)} (PostgreSQL said: ${(error as Error).message})`,
        { cause: error },
      );
    }
    const detail = errorText(error);
    throw new Error(`Could not migrate the ${dialect} database: ${detail}`, { cause: error });
  }
  return applied;
}

/** SQLite: whether another process applied every migration meanwhile (waits up to 10 s for its commit). */
async function appliedByAnother(migrator: Migrator): Promise<boolean> {
  for (let waited = 0; waited <= 10_000; waited += 100) {
    if ((await migrator.getMigrations()).every((m) => m.executedAt !== undefined)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * A schema already created by another role is that role's to change: the connected role (a
 * runtime role) must not migrate it, even where PostgreSQL would let it create tables.
 */
async function refuseUnlessOwner(db: Kysely<Database>, pending: number): Promise<void> {
  const { rows } = await sql<{ mine: boolean }>`
    select pg_has_role(current_user, c.relowner, 'USAGE') as mine
    from pg_class c where c.oid = to_regclass('kysely_migration')`.execute(db);
  if (rows[0] && !rows[0].mine) throw new StoreSetupError(await notOwnerMessage(db, pending));
}

async function notOwnerMessage(db: Kysely<Database>, pending: number): Promise<string> {
  const { rows } = await sql<{ role: string }>`select current_user as role`.execute(db);
  const what = pending === 1 ? 'a migration' : `${pending} migrations`;
  return (
    `SWITCHBOARD_DATABASE_URL: the database schema needs ${what} and role "${rows[0]?.role ?? '?'}" may not apply them; ` +
    'run `switchboard migrate` as the owner role first (see docs/many-hosts.md, "Database roles")'
  );
}
