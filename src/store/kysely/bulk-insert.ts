import { createQueryId, type Compilable, type Kysely, type RootOperationNode } from 'kysely';
import type { Database } from './database.js';
import { writtenTable } from './written-table.js';
import { runDirectly } from './sqlite-direct.js';

/** Row counts whose SQL text is kept per statement shape (a storm's chunks and runs have few sizes). */
const MAX_SHAPES = 64;

/**
 * A multi-row INSERT (or UPDATE … FROM (VALUES …)) of one shape (table, columns, clauses), its SQL text compiled once per row count
 * and reused with the next rows' values: the multi-row sibling of `Precompiled` (precompiled.ts),
 * whose statements have one fixed set of named values. Kysely builds a frozen node per value and compiles the tree
 * on every call: for a 1,000-row insert of sessions (25 columns) that was about a tenth of a
 * reconnect storm's CPU, and as much again in garbage collection.
 *
 * Safe by construction, not by assumption: a text is kept only when Kysely's own compilation of that
 * call bound exactly the rows' values, row by row in column order (so the text is N rows of
 * placeholders, whatever the values were), and it is reused only for rows of the same columns whose
 * values are all plain (no undefined, no objects). Anything else takes Kysely's path, as before.
 * A reused statement still goes through the plugins (the read cache sees the table it writes) and
 * through the connection like any other. Texts are kept per database (a process may open SQLite and
 * PostgreSQL stores side by side), by the Kysely adapter its instance and transactions share.
 */
export class BulkInsert<Row extends object, Out> {
  /** Per database (its Kysely adapter: one per store, shared by its transactions), then per row count. */
  readonly #texts = new WeakMap<
    object,
    Map<number, { sql: string; query: RootOperationNode; written: string | null | undefined }>
  >();

  /**
   * `build` may bind values after the rows' (`tail`, the same count on every call, say the gateway an
   * UPDATE … FROM (VALUES …) is narrowed to): they follow the rows' values in the kept text's parameters.
   */
  constructor(private readonly build: (db: Kysely<Database>, rows: Row[], tail: unknown[]) => Compilable<Out>) {}

  async execute(db: Kysely<Database>, rows: Row[], tail: unknown[] = []): Promise<Out[]> {
    const executor = db.getExecutor();
    let texts = this.#texts.get(executor.adapter);
    if (!texts) this.#texts.set(executor.adapter, (texts = new Map()));
    const values = plainValues(rows);
    const parameters = values && tail.every(plain) ? [...values, ...tail] : null;
    const text = parameters && texts.get(rows.length);
    if (text && parameters) {
      const direct = runDirectly<Out>(db, text.sql, text.written, parameters);
      if (direct) return direct.rows;
      const queryId = createQueryId();
      // A plugin that rewrites the tree would want other SQL than the kept text: Kysely's path then.
      if (executor.transformQuery(text.query, queryId) === text.query)
        return (await executor.executeQuery<Out>({ sql: text.sql, parameters, query: text.query, queryId })).rows;
    }
    const compiled = this.build(db, rows, tail).compile();
    if (parameters && sameValues(compiled.parameters, parameters)) {
      if (texts.size >= MAX_SHAPES) texts.clear();
      texts.set(rows.length, { sql: compiled.sql, query: compiled.query, written: writtenTable(compiled.query) });
    }
    return (await executor.executeQuery<Out>(compiled)).rows;
  }
}

/** The rows' values, row by row in the first row's column order; null when a row differs in columns or a value is not plain. */
function plainValues(rows: readonly object[]): unknown[] | null {
  const first = rows[0];
  if (!first) return null;
  const columns = Object.keys(first);
  const values: unknown[] = [];
  for (const row of rows) {
    const keys = Object.keys(row);
    if (keys.length !== columns.length) return null;
    for (let i = 0; i < columns.length; i++) {
      if (keys[i] !== columns[i]) return null;
      const v = (row as Record<string, unknown>)[keys[i]!];
      if (!plain(v)) return null;
      values.push(v);
    }
  }
  return values;
}

function plain(v: unknown): boolean {
  return v !== undefined && (typeof v !== 'object' || v === null);
}

function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
