import { sql } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * Online sessions per gateway, kept by triggers on `sessions` in the same transaction as every write,
 * so totalCount reads a few counter rows instead of counting the online rows (a COUNT(*) over a
 * million of them took ~300 ms on PostgreSQL).
 *
 * PostgreSQL: one row per gateway would be a hot row, locked until commit by whichever transaction
 * touched it last (an admin disconnect would wait behind a sync batch of the same gateway). So there
 * are up to 16 shard rows per gateway, writers add to one no other transaction holds, and readers
 * sum the shards. SQLite has one writer at a time: shard 0 only. Rows that reach 0 stay; readers
 * skip gateways whose sum is 0.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('session_online_counts')
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull())
    .addColumn('n', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('session_online_counts_pkey', ['gateway_id', 'shard'])
    .execute();

  if (dialect === 'postgres') await postgresTriggers(db);
  else await sqliteTriggers(db);

  // After the triggers: on PostgreSQL creating them locks out writers to `sessions` until this
  // migration commits, so no write slips in between the count and the triggers.
  await sql`
    insert into session_online_counts (gateway_id, shard, n)
    select gateway_id, 0, count(*) from sessions where ended_at is null group by gateway_id`.execute(db);
}

/**
 * One add per gateway per statement, however many rows it wrote: a row trigger would update the same
 * counter row once per row, and thousands of updates of one row in one transaction slow down
 * quadratically in PostgreSQL (each walks the row's versions; ending 20k sessions took 29 s, not 0.6).
 * INSERT and DELETE use statement triggers over transition tables; UPDATE see below.
 *
 * `session_online_counts_add` adds to a shard row no other open transaction holds: its own shard
 * (`pg_backend_pid() % 16`) when free, else any free shard of that gateway (SKIP LOCKED), so a writer
 * waits for another's counter only when all 16 are held. Without that, two transactions whose
 * connections share a shard would queue on it, and one holding the counter while it waits for a
 * session row the other has locked would deadlock with it.
 *
 * TRUNCATE empties the counts.
 */
async function postgresTriggers(db: MigrationDb): Promise<void> {
  await sql`
    create function session_online_counts_add(gw text, delta bigint) returns void language plpgsql as $$
    declare
      own int := pg_backend_pid() % 16;
      s int;
    begin
      if delta = 0 then
        return;
      end if;
      perform 1 from session_online_counts where gateway_id = gw and shard = own for update skip locked;
      if found then
        update session_online_counts set n = n + delta where gateway_id = gw and shard = own;
        return;
      end if;
      -- Not free: if it is missing rather than held by another transaction, create it. (An insert
      -- that conflicts would wait for the holder, so check first.)
      perform 1 from session_online_counts where gateway_id = gw and shard = own;
      if not found then
        insert into session_online_counts (gateway_id, shard, n) values (gw, own, delta) on conflict do nothing;
        if found then
          return;
        end if;
      end if;
      for i in 1..15 loop
        s := (own + i) % 16;
        perform 1 from session_online_counts where gateway_id = gw and shard = s for update skip locked;
        if found then
          update session_online_counts set n = n + delta where gateway_id = gw and shard = s;
          return;
        end if;
      end loop;
      insert into session_online_counts (gateway_id, shard, n) values (gw, own, delta)
      on conflict (gateway_id, shard) do update set n = session_online_counts.n + excluded.n;
    end
    $$`.execute(db);

  // One function for both: plpgsql plans each query when it first runs, so the branch not taken
  // never names the transition table its trigger does not have.
  await sql`
    create function session_online_counts_rows() returns trigger language plpgsql as $$
    declare
      r record;
    begin
      if tg_op = 'INSERT' then
        for r in select gateway_id, count(*) as n from new_sessions where ended_at is null group by gateway_id order by gateway_id loop
          perform session_online_counts_add(r.gateway_id, r.n);
        end loop;
      else
        for r in select gateway_id, count(*) as n from old_sessions where ended_at is null group by gateway_id order by gateway_id loop
          perform session_online_counts_add(r.gateway_id, -r.n);
        end loop;
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger sessions_online_count_insert after insert on sessions
    referencing new table as new_sessions
    for each statement execute function session_online_counts_rows()`.execute(db);
  await sql`
    create trigger sessions_online_count_delete after delete on sessions
    referencing old table as old_sessions
    for each statement execute function session_online_counts_rows()`.execute(db);

  // UPDATE: transition tables cannot go with a column list, so they would capture every stats
  // update too (a 20k-row one took about twice as long). Instead a row trigger that fires only when a row
  // goes online or offline stages its change, and a statement trigger on the same columns folds this
  // connection's staged changes into the counters once per statement.
  await sql`
    create table session_online_count_changes (pid integer not null, gateway_id text not null, d integer not null)`.execute(
    db,
  );
  await sql`create index session_online_count_changes_pid_idx on session_online_count_changes (pid)`.execute(db);
  await sql`
    create function session_online_counts_stage() returns trigger language plpgsql as $$
    begin
      if old.ended_at is null then
        insert into session_online_count_changes (pid, gateway_id, d) values (pg_backend_pid(), old.gateway_id, -1);
      end if;
      if new.ended_at is null then
        insert into session_online_count_changes (pid, gateway_id, d) values (pg_backend_pid(), new.gateway_id, 1);
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger sessions_online_count_stage after update of ended_at, gateway_id on sessions
    for each row
    when ((old.ended_at is null) <> (new.ended_at is null) or (old.ended_at is null and old.gateway_id <> new.gateway_id))
    execute function session_online_counts_stage()`.execute(db);
  await sql`
    create function session_online_counts_update() returns trigger language plpgsql as $$
    declare
      r record;
    begin
      for r in
        with staged as (delete from session_online_count_changes where pid = pg_backend_pid() returning gateway_id, d)
        select gateway_id, sum(d) as n from staged group by gateway_id having sum(d) <> 0 order by gateway_id
      loop
        perform session_online_counts_add(r.gateway_id, r.n);
      end loop;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger sessions_online_count_update after update of ended_at, gateway_id on sessions
    for each statement execute function session_online_counts_update()`.execute(db);

  await sql`
    create function session_online_counts_truncate() returns trigger language plpgsql as $$
    begin
      delete from session_online_counts;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger sessions_online_count_truncate after truncate on sessions
    for each statement execute function session_online_counts_truncate()`.execute(db);
}

/** Row triggers only (SQLite has no statement triggers); the WHEN clauses keep them off other writes. */
async function sqliteTriggers(db: MigrationDb): Promise<void> {
  const add = sql.raw('on conflict (gateway_id, shard) do update set n = n + excluded.n');
  await sql`
    create trigger sessions_online_count_insert after insert on sessions when new.ended_at is null
    begin
      insert into session_online_counts (gateway_id, shard, n) values (new.gateway_id, 0, 1) ${add};
    end`.execute(db);
  await sql`
    create trigger sessions_online_count_delete after delete on sessions when old.ended_at is null
    begin
      insert into session_online_counts (gateway_id, shard, n) values (old.gateway_id, 0, -1) ${add};
    end`.execute(db);
  // INSERT … SELECT needs its WHERE here anyway: without one SQLite would misread ON CONFLICT.
  await sql`
    create trigger sessions_online_count_update after update of ended_at, gateway_id on sessions
    when (old.ended_at is null) <> (new.ended_at is null) or (old.ended_at is null and old.gateway_id <> new.gateway_id)
    begin
      insert into session_online_counts (gateway_id, shard, n) select old.gateway_id, 0, -1 where old.ended_at is null ${add};
      insert into session_online_counts (gateway_id, shard, n) select new.gateway_id, 0, 1 where new.ended_at is null ${add};
    end`.execute(db);
}
