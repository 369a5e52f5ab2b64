/**
 * The two PostgreSQL roles of docs/many-hosts.md ("Database roles"), made by running that page's
 * SQL as printed, with unique role and database names so concurrent runs never meet. Everything is
 * dropped at the end. The server is the same admin connection as test/support/postgres.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';

const ADMIN_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DOC = new URL('../../docs/many-hosts.md', import.meta.url);

/** The SQL blocks of the "Database roles" section, in order: [0] creates the roles, [1] is the grant list. */
export function databaseRolesSql(): string[] {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf('### Database roles');
  if (start < 0) throw new Error('docs/many-hosts.md has no "Database roles" section');
  const section = text.slice(start).split(/\n## /)[0]!;
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** SQL text → its statements, without the `;` and comments. */
export function sqlStatements(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/--.*$/, '').trim())
    .join(' ')
    .split(';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

export interface DatabaseRoles {
  owner: string;
  runtime: string;
  database: string;
  /** Connects as the owner (trust auth on the test server, so the documented passwords go unused). */
  ownerUrl: string;
  /** Connects as the runtime role. */
  runtimeUrl: string;
  /** Runs `text` on this database as the admin (superuser). */
  asAdmin(text: string): Promise<void>;
  drop(): Promise<void>;
}

/** Runs `fn` with a client connected to `url`, closed afterwards. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates the owner, the runtime role and the database with the documented SQL, names made unique. */
export async function createDatabaseRoles(): Promise<DatabaseRoles> {
  const suffix = randomBytes(5).toString('hex');
  const owner = `sb_owner_${suffix}`;
  const runtime = `sb_app_${suffix}`;
  const database = `switchboard_roles_${suffix}`;
  const create = databaseRolesSql()[0]!
    .replace(/\bswitchboard_owner\b/g, owner)
    .replace(/\bswitchboard_app\b/g, runtime)
    .replace(/\bdatabase switchboard\b/g, `database ${database}`);
  const statements = sqlStatements(create);
  if (statements.length < 3) throw new Error(`expected the documented create statements, got: ${create}`);
  let created = false;
  const drop = async () => {
    await withClient(ADMIN_URL, async (c) => {
      await c.query(`drop database if exists ${database} with (force)`);
      await c.query(`drop role if exists ${owner}, ${runtime}`);
    });
  };
  try {
    // One statement at a time: CREATE DATABASE may not run inside the implicit transaction of a multi-statement query.
    await withClient(ADMIN_URL, async (c) => {
      for (const statement of statements) await c.query(statement);
    });
    created = true;
  } finally {
    if (!created) await drop();
  }
  const url = (user: string) => {
    const u = new URL(ADMIN_URL);
    u.username = user;
    u.password = '';
    u.pathname = `/${database}`;
    return u.toString();
  };
  return {
    owner,
    runtime,
    database,
    ownerUrl: url(owner),
    runtimeUrl: url(runtime),
    asAdmin: (text) => withClient(url(new URL(ADMIN_URL).username), async (c) => void (await c.query(text))),
    drop,
  };
}
