import { sql } from 'kysely';
import type { DialectName, MigrationDb } from '../database.js';

/**
 * PostgreSQL's online counters never wait for another transaction's counter row.
 *
 * Before, a gateway's shard rows were created on first use: a writer that found its shard missing
 * inserted it, and that insert waited for any other transaction that had just inserted the same
 * shard and not yet committed; with every shard held it queued on its own one. Waiting for a counter
 * while holding a session row another writer wanted deadlocked the two (PostgreSQL aborted one:
 * `deadlock detected` in the concurrent-writers contract test).
 *
 * Now all 16 shard rows of a gateway exist from the moment the gateway does (a trigger on `gateways`,
 * and this migration for the gateways already there), so a writer only ever locks an existing row with
 * SKIP LOCKED. When all 16 are held (more than 16 writers of one gateway at once, across replicas), it
 * adds to a spill row keyed by its own backend pid (shard `16 + pid`): no two open transactions share
 * a pid, so nobody else can hold that row. A writer that takes a regular shard folds the spill rows it
 * can lock into it, so spill rows last only as long as the crowd that made them.
 *
 * SQLite has one writer at a time and keeps shard 0 only: nothing changes there.
 */
export async function up(db: MigrationDb, dialect: DialectName): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    create or replace function session_online_counts_add(gw text, delta bigint) returns void language plpgsql as $$
    declare
      own int := pg_backend_pid() % 16;
      s int;
      spilled bigint;
    begin
      if delta = 0 then
        return;
      end if;
      for i in 0..15 loop
        s := (own + i) % 16;
        perform 1 from session_online_counts where gateway_id = gw and shard = s for update skip locked;
        if found then
          with folded as (
            delete from session_online_counts
            where gateway_id = gw and shard >= 16
              and ctid = any (array(
                select ctid from session_online_counts where gateway_id = gw and shard >= 16 for update skip locked))
            returning n)
          select coalesce(sum(n), 0) into spilled from folded;
          update session_online_counts set n = n + delta + spilled where gateway_id = gw and shard = s;
          return;
        end if;
      end loop;
      insert into session_online_counts (gateway_id, shard, n) values (gw, 16 + pg_backend_pid(), delta)
      on conflict (gateway_id, shard) do update set n = session_online_counts.n + excluded.n;
    end
    $$`.execute(db);

  await sql`
    create function session_online_counts_shards() returns trigger language plpgsql as $$
    begin
      insert into session_online_counts (gateway_id, shard, n)
      select new.id, s, 0 from generate_series(0, 15) as s
      on conflict do nothing;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger gateways_online_count_shards after insert on gateways
    for each row execute function session_online_counts_shards()`.execute(db);

  // TRUNCATE of sessions zeroes the counts but keeps every gateway's shard rows.
  await sql`
    create or replace function session_online_counts_truncate() returns trigger language plpgsql as $$
    begin
      delete from session_online_counts where shard >= 16;
      update session_online_counts set n = 0 where n <> 0;
      return null;
    end
    $$`.execute(db);

  await sql`
    insert into session_online_counts (gateway_id, shard, n)
    select g.id, s, 0 from gateways g cross join generate_series(0, 15) as s
    on conflict do nothing`.execute(db);
}
