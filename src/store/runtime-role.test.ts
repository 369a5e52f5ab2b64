/**
 * Append-only on PostgreSQL (issue 14): the owner migrates and grants; the store runs as the runtime
 * role. The whole store contract passes as that role (every table the application writes, whatever
 * later migrations add), and PostgreSQL refuses the role each way of changing the audit trail or
 * taking its guard away. The roles and database are made with the SQL printed in docs/many-hosts.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { sql } from 'kysely';
import { postgresSkipReason } from '../../test/support/postgres.js';
import {
  createDatabaseRoles,
  databaseRolesSql,
  sqlStatements,
  withClient,
  type DatabaseRoles,
} from '../../test/support/postgres-roles.js';
import { makeAudit } from './contract/fixtures.js';
import { KyselyStore, migrateDatabase, openStore, StoreSetupError } from './kysely/kysely-store.js';
import { runtimeGrantStatements } from './kysely/runtime-grants.js';
import { runStoreContract } from './store.contract.js';

const skip = await postgresSkipReason();

let roles: DatabaseRoles | null = null;
let grants: string[] = [];
let owner: KyselyStore | null = null;
/** Creates the roles and the database, then migrates and grants as the owner, once per run. */
async function prepared(): Promise<DatabaseRoles> {
  if (roles) return roles;
  roles = await createDatabaseRoles();
  ({ grants } = await migrateDatabase(roles.ownerUrl, { runtimeRole: roles.runtime }));
  return roles;
}
after(async () => {
  await owner?.close();
  await roles?.drop();
});

/** Rejects with PostgreSQL's "insufficient privilege" (42501) and a message matching `message`. */
async function refused(client: pg.Client, statement: string, message: RegExp): Promise<void> {
  await assert.rejects(client.query(statement), (e: Error & { code?: string }) => {
    assert.equal(e.code, '42501', `${statement}: ${e.message}`);
    assert.match(e.message, message, statement);
    return true;
  });
}

test('the grants `switchboard migrate` runs are exactly the ones docs/many-hosts.md prints', () => {
  assert.deepEqual(sqlStatements(databaseRolesSql()[1]!), runtimeGrantStatements('public', 'switchboard_app'));
});

test('migrate refuses --runtime-role on SQLite: a file has no roles', async () => {
  await assert.rejects(
    migrateDatabase('sqlite::memory:', { runtimeRole: 'app' }),
    (e: Error) => e instanceof StoreSetupError && /only on PostgreSQL/.test(e.message),
  );
});

// Every write path of the application (sessions and their counter triggers, tokens, audit appends,
// webhooks and their deliveries, and the tables later migrations add) as the runtime role.
runStoreContract('postgres, as the runtime role', async () => openStore((await prepared()).runtimeUrl), {
  skip,
  auditRefusal: /permission denied for table audit_events/,
  ownerDb: async () => (owner ??= await openStore((await prepared()).ownerUrl)).db,
});

describe('PostgreSQL runtime role and the audit trail', { skip }, () => {
  let r: DatabaseRoles;
  before(async () => {
    r = await prepared();
  });

  test('migrate granted the runtime role the documented statements', () => {
    assert.deepEqual(grants, runtimeGrantStatements('public', r.runtime));
  });

  test('the runtime role appends and reads audit events, and is refused every way of changing them or their guard', async () => {
    const store = await openStore(r.runtimeUrl);
    const gatewayId = `gw-roles-${Date.now().toString(36)}`;
    try {
      for (const reason of ['one', 'two', 'three'])
        await store.audit.append(makeAudit({ reason, targetGatewayId: gatewayId }));
      const before = (await sql`select * from audit_events order by id`.execute(store.db)).rows;
      assert.ok(before.length >= 3);

      await withClient(r.runtimeUrl, async (c) => {
        const table = /permission denied for table audit_events/;
        const owner = /must be owner of (table|relation) audit_events/;
        await refused(c, `update audit_events set reason = 'forged'`, table);
        await refused(c, 'delete from audit_events', table);
        await refused(c, 'truncate audit_events', table);
        await refused(c, 'alter table audit_events disable trigger user', owner);
        await refused(c, 'alter table audit_events disable trigger all', owner);
        await refused(c, 'alter table audit_events disable trigger audit_events_append_only', owner);
        await refused(c, 'drop trigger audit_events_append_only on audit_events', owner);
        await refused(c, 'drop trigger audit_events_no_truncate on audit_events', owner);
        await refused(
          c,
          'drop function audit_events_refuse_change() cascade',
          /must be owner of function audit_events_refuse_change/,
        );
        await refused(c, 'drop table audit_events', owner);
        await refused(c, 'alter table audit_events rename to audit_events_old', owner);
        await refused(c, `alter table audit_events owner to ${r.runtime}`, owner);
        await refused(
          c,
          'create trigger audit_events_quiet before update on audit_events for each row execute function audit_events_refuse_change()',
          table,
        );
        await refused(c, 'create table audit_events_copy (id text)', /permission denied for schema public/);
        // Replica mode skips ordinary triggers; only a superuser may enter it.
        await refused(
          c,
          'set session_replication_role = replica',
          /permission denied to set parameter "session_replication_role"/,
        );
        // A non-owner's GRANT grants nothing (PostgreSQL only warns), so the refusals stay.
        await c.query(`grant update, delete, truncate on audit_events to ${r.runtime}`);
        await refused(c, `update audit_events set reason = 'forged'`, table);
        await refused(c, 'truncate audit_events', table);
      });

      const afterwards = (await sql`select * from audit_events order by id`.execute(store.db)).rows;
      assert.deepEqual(afterwards, before, 'every audit row unchanged');
      const mine = await store.audit.list({ first: 10, filter: { targetGatewayId: gatewayId } });
      assert.deepEqual(mine.rows.map((e) => e.reason).sort(), ['one', 'three', 'two']);
    } finally {
      await store.close();
    }
  });

  test('the owner is still refused UPDATE, DELETE and TRUNCATE of audit events by the triggers', async () => {
    await withClient(r.ownerUrl, async (c) => {
      for (const statement of [
        `update audit_events set reason = 'forged'`,
        'delete from audit_events',
        'truncate audit_events',
      ]) {
        await assert.rejects(c.query(statement), /audit_events is append-only/, statement);
      }
    });
  });

  test('a table a later migration adds is read and written by the runtime role without granting again', async () => {
    // What a new migration does: the owner creates a table (with a sequence, as serial columns have).
    await withClient(r.ownerUrl, (c) =>
      c.query('create table later_feature (id serial primary key, note text not null)'),
    );
    await withClient(r.runtimeUrl, async (c) => {
      const { rows } = await c.query<{ id: number }>(
        `insert into later_feature (note) values ('a'), ('b') returning id`,
      );
      assert.equal(rows.length, 2);
      await c.query(`update later_feature set note = 'c' where id = $1`, [rows[0]!.id]);
      await c.query('delete from later_feature where id = $1', [rows[1]!.id]);
      assert.deepEqual((await c.query('select note from later_feature')).rows, [{ note: 'c' }]);
      await refused(c, 'truncate later_feature', /permission denied for table later_feature/);
      await refused(c, 'drop table later_feature', /must be owner of table later_feature/);
    });
  });

  test('a replica whose schema needs a migration it may not apply stops with one line naming the fix', async () => {
    // Pretend the newest migration is not applied yet (as right after an upgrade, before `migrate`).
    const [latest] = (
      await withClient(r.ownerUrl, (c) =>
        c.query<{ name: string; timestamp: string }>(
          'delete from kysely_migration where name = (select max(name) from kysely_migration) returning name, timestamp',
        ),
      )
    ).rows;
    assert.ok(latest);
    try {
      await assert.rejects(openStore(r.runtimeUrl), (e: Error) => {
        assert.ok(e instanceof StoreSetupError, String(e));
        assert.match(
          e.message,
          new RegExp(
            `^SWITCHBOARD_DATABASE_URL: the database schema needs a migration and role "${r.runtime}" may not apply them; run \`switchboard migrate\``,
          ),
        );
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
      // It changed nothing: the migration is still unapplied and no table belongs to the runtime role.
      await withClient(r.ownerUrl, async (c) => {
        assert.equal((await c.query('select 1 from kysely_migration where name = $1', [latest.name])).rowCount, 0);
        assert.equal((await c.query(`select 1 from pg_tables where tableowner = $1`, [r.runtime])).rowCount, 0);
      });
    } finally {
      await withClient(r.ownerUrl, (c) =>
        c.query('insert into kysely_migration (name, timestamp) values ($1, $2)', [latest.name, latest.timestamp]),
      );
    }
    const store = await openStore(r.runtimeUrl);
    await store.close();
  });

  test('migrate refuses a runtime role that is the owner, a superuser or missing', async () => {
    const refusedRole = (role: string, message: RegExp) =>
      assert.rejects(
        migrateDatabase(r.ownerUrl, { runtimeRole: role }),
        (e: Error) => e instanceof StoreSetupError && message.test(e.message),
      );
    await refusedRole(r.owner, /must be a separate role/);
    await refusedRole('postgres', /is a superuser/);
    await refusedRole(`${r.runtime}_missing`, /does not exist/);
  });
});
