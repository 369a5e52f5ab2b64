/**
 * Preload (`node --import tsx --import ./bench/lib/sql-trace.ts …`): counts every SQL statement that
 * better-sqlite3 runs on the process's main thread, by SQL text, and writes the counts as JSON to
 * `$BENCH_SQL_TRACE` on SIGUSR2 and when the process exits. The same-work benchmark uses it (in its
 * smoke run) to check that its baselines write the rows Switchboard writes.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import Database from 'better-sqlite3';

const out = process.env.BENCH_SQL_TRACE;
if (out && isMainThread) {
  const counts = new Map<string, number>();
  const probe = new Database(':memory:');
  const statement = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const method of ['run', 'get', 'all', 'iterate'] as const) {
    const original = statement[method]!;
    statement[method] = function (this: { source: string }, ...args: unknown[]) {
      counts.set(this.source, (counts.get(this.source) ?? 0) + 1);
      return original.apply(this, args);
    };
  }
  const write = () => writeFileSync(out, `${JSON.stringify(Object.fromEntries(counts), null, 2)}\n`);
  process.on('exit', write);
  process.on('SIGUSR2', write);
}

/** What a statement writes, e.g. `insert into "audit_events"`; null for reads and transaction control. */
export function writeKind(sql: string): string | null {
  const m = /^(insert into|update|delete from) ("[a-z_]+")/i.exec(sql);
  return m ? `${m[1]!.toLowerCase()} ${m[2]}` : null;
}

/** Rows a statement inserts (its VALUES tuples); 1 for any other statement. */
function rowsOf(sql: string): number {
  const values = sql.split(' values ')[1];
  return values === undefined ? 1 : (values.match(/\), \(/g)?.length ?? 0) + 1;
}

/** By write kind, `after` minus `before`: rows for inserts (multi-row inserts count each row), statements otherwise. */
export function writesBetween(before: Record<string, number>, after: Record<string, number>): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const [sql, n] of Object.entries(after)) {
    const kind = writeKind(sql);
    const d = n - (before[sql] ?? 0);
    if (kind && d > 0) kinds.set(kind, (kinds.get(kind) ?? 0) + d * rowsOf(sql));
  }
  return kinds;
}
