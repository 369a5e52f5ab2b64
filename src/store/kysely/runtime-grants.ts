/**
 * PostgreSQL privileges for the runtime role: the role replicas run as, which is not the owner of
 * the schema. It may read and write every table, except that it may only read and append the audit
 * trail and only read the migration bookkeeping. Not being the owner, it cannot disable or drop the
 * append-only triggers, alter or drop tables, or truncate anything (docs/many-hosts.md).
 *
 * Tables are covered generically ("all tables in the schema", plus default privileges for tables the
 * owner creates later), so a new migration's table works without editing this file. Only a table
 * that must be append-only, like `audit_events`, is named here.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { StoreSetupError } from './store-setup-error.js';

/** Tables the runtime role may only SELECT and INSERT into (the database refuses everything else). */
export const APPEND_ONLY_TABLES = ['audit_events'] as const;

/** Kysely's bookkeeping: read by every process to see that the schema is current; written by the owner only. */
export const MIGRATION_TABLES = ['kysely_migration', 'kysely_migration_lock'] as const;

/** `name` as a PostgreSQL identifier, quoted only when it has to be. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * The statements, in order, that give `role` the runtime privileges on the tables in `schema`.
 * Run by the owner; each is idempotent, so running them after every migration is harmless.
 */
export function runtimeGrantStatements(schema: string, role: string): string[] {
  const s = quoteIdent(schema);
  const r = quoteIdent(role);
  const appendOnly = APPEND_ONLY_TABLES.map((t) => `${s}.${quoteIdent(t)}`).join(', ');
  const migrations = MIGRATION_TABLES.map((t) => `${s}.${quoteIdent(t)}`).join(', ');
  return [
    `grant usage on schema ${s} to ${r}`,
    `grant select, insert, update, delete on all tables in schema ${s} to ${r}`,
    `grant usage, select on all sequences in schema ${s} to ${r}`,
    `grant execute on all functions in schema ${s} to ${r}`,
    `revoke all on table ${appendOnly} from ${r}`,
    `grant select, insert on table ${appendOnly} to ${r}`,
    `revoke all on table ${migrations} from ${r}`,
    `grant select on table ${migrations} to ${r}`,
    // Tables, sequences and functions the owner creates later (new migrations) get the same grants.
    `alter default privileges in schema ${s} grant select, insert, update, delete on tables to ${r}`,
    `alter default privileges in schema ${s} grant usage, select on sequences to ${r}`,
    `alter default privileges in schema ${s} grant execute on functions to ${r}`,
  ];
}

/**
 * Grants the runtime privileges to `role` on the connected database's current schema, as the
 * connected role (the owner). Refuses a role that would defeat the point: the owner itself, a
 * member of the owner, or a superuser (who bypasses every privilege and may disable triggers).
 */
export async function grantRuntimeRole(db: Kysely<Database>, role: string): Promise<string[]> {
  const { rows } = await sql<{ schema: string; owner: string; superuser: boolean; member: boolean }>`
    select current_schema() as schema, current_user as owner, r.rolsuper as superuser,
           pg_has_role(r.oid, current_user, 'MEMBER') as member
    from pg_roles r where r.rolname = ${role}`.execute(db);
  const found = rows[0];
  if (!found)
    throw new StoreSetupError(
      `--runtime-role: role "${role}" does not exist; create it first (see docs/many-hosts.md, "Database roles")`,
    );
  if (found.superuser)
    throw new StoreSetupError(
      `--runtime-role: role "${role}" is a superuser, which no privilege binds; use a plain role`,
    );
  if (found.owner === role || found.member) {
    throw new StoreSetupError(
      `--runtime-role: role "${role}" is the owner "${found.owner}" or may act as it; the runtime role must be a separate role`,
    );
  }
  const statements = runtimeGrantStatements(found.schema, role);
  await db.transaction().execute(async (trx) => {
    for (const statement of statements) await sql.raw(statement).execute(trx);
  });
  return statements;
}
