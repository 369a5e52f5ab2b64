/**
 * Statements built and compiled by Kysely once, then run with new values: for the store's hottest
 * single-row statements (a disconnect's look-up, intent, audit rows and the session's end). Kysely
 * builds an operation tree, freezes it and compiles it to SQL for every call; on the disconnect path
 * that was about a seventh of the server's busy time, for SQL texts that never change.
 *
 * A template is compiled by the same builder code the repository would run, with a placeholder in
 * place of each named value, so its SQL is the text the builder produces (the same prepared statement
 * in the SQLite statement cache, the same text on PostgreSQL, with that dialect's placeholders). At
 * each call the placeholders' positions take the call's values; any constant the builder put in the
 * parameters stays.
 *
 * Plugins still see every run as they see a compiled query: `transformQuery` with the statement's
 * tree before it runs, `transformResult` after (the read cache invalidates the table a write names,
 * read-cache.ts). A plugin that rewrites the tree cannot be used with a template compiled before its
 * rewrite: the run throws instead of sending other SQL than the plugin asked for.
 *
 * On SQLite a run skips Kysely's executor and driver and runs on the connection itself when it may
 * (sqlite-direct.ts): the same text and values, the read cache told of the write as its plugin is.
 */
import { createQueryId, type Compilable, type Kysely, type QueryResult, type RootOperationNode } from 'kysely';
import type { Database } from './database.js';
import { writtenTable } from './written-table.js';
import { runDirectly } from './sqlite-direct.js';

/** Where the value named `name` goes, while the template is compiled. */
class Slot {
  constructor(readonly name: string) {}
}

interface Template {
  sql: string;
  query: RootOperationNode;
  /** Each parameter: a slot (the call's value of that name) or a constant of the builder. */
  parameters: readonly unknown[];
  /** The table the statement writes, for the direct path (null: none; undefined: any). */
  written: string | null | undefined;
}

/**
 * One statement shape whose values are named (`P`'s keys; every call passes the same keys),
 * compiled once per database (dialect) on first use. A value `undefined` is sent as null (a builder
 * would leave such an insert column out, to its default: use this only where that default is null).
 */
export class Precompiled<P extends object, R> {
  /** Per dialect adapter: a Kysely instance and its transactions share one. */
  readonly #templates = new WeakMap<object, Template>();

  constructor(private readonly build: (db: Kysely<Database>, values: P) => Compilable<R>) {}

  /** Runs the statement on `db` (the store's instance or a transaction) with `values`. */
  async execute(db: Kysely<Database>, values: P): Promise<QueryResult<R>> {
    const executor = db.getExecutor();
    let template = this.#templates.get(executor.adapter);
    if (!template) {
      template = this.#compile(db, values);
      this.#templates.set(executor.adapter, template);
    }
    const named = values as Record<string, unknown>;
    const parameters = template.parameters.map((p) => (p instanceof Slot ? (named[p.name] ?? null) : p));
    const direct = runDirectly<R>(db, template.sql, template.written, parameters);
    if (direct) return direct;
    const queryId = createQueryId();
    if (executor.transformQuery(template.query, queryId) !== template.query) {
      throw new Error('a Kysely plugin rewrote a precompiled statement; precompiled statements cannot follow rewrites');
    }
    return executor.executeQuery<R>({ sql: template.sql, query: template.query, parameters, queryId });
  }

  #compile(db: Kysely<Database>, values: P): Template {
    const slots = Object.fromEntries(Object.keys(values).map((name) => [name, new Slot(name)])) as unknown as P;
    const compiled = this.build(db, slots).compile();
    const placed = new Set(compiled.parameters.filter((p): p is Slot => p instanceof Slot).map((s) => s.name));
    for (const name of Object.keys(values)) {
      if (!placed.has(name)) throw new Error(`precompiled statement: the value "${name}" is not a parameter`);
    }
    return {
      sql: compiled.sql,
      query: compiled.query,
      parameters: compiled.parameters,
      written: writtenTable(compiled.query),
    };
  }
}
