/**
 * Parsed and validated documents, keyed by query text, in a bounded LRU. A hit skips parsing and
 * validation entirely; an operation that is run again is compiled with graphql-jit (see executor.ts).
 * Only documents that validated are kept, so a stream of broken queries cannot evict good ones.
 */
import {
  GraphQLError,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationTypeNode,
  type ValidationRule,
} from 'graphql';
import type { CompiledQuery } from 'graphql-jit';

/** One operation of a cached document, with its execution plan. */
export interface PreparedOperation {
  readonly document: DocumentNode;
  readonly operationName: string | undefined;
  readonly kind: OperationTypeNode;
  /** How many times it was run; the executor compiles it on the second. */
  runs: number;
  /** The jit-compiled query; undefined until compiled, null when graphql-jit cannot compile it. */
  compiled: CompiledQuery | null | undefined;
  /** Whether its answers may be kept (response-cache.ts); undefined until first asked. */
  cacheable?: boolean;
}

interface CachedDocument {
  readonly document: DocumentNode;
  /** By operation name ('' for the anonymous/only operation). */
  readonly operations: Map<string, PreparedOperation>;
}

export interface DocumentCacheOptions {
  /** Most documents kept (default 1000). */
  maxEntries?: number;
  /** Most query text kept, summed over entries, in characters (default 4 Mi): bounds the memory. */
  maxTotalChars?: number;
  /** Parser guard against pathological documents (default 20 000 tokens). */
  maxTokens?: number;
}

export class DocumentCache {
  private readonly entries = new Map<string, CachedDocument>();
  private totalChars = 0;
  private readonly rules: readonly ValidationRule[];
  private readonly maxEntries: number;
  private readonly maxTotalChars: number;
  private readonly maxTokens: number;

  constructor(
    private readonly schema: GraphQLSchema,
    extraRules: readonly ValidationRule[],
    options: DocumentCacheOptions = {},
  ) {
    this.rules = [...specifiedRules, ...extraRules];
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxTotalChars = options.maxTotalChars ?? 4 * 1024 * 1024;
    this.maxTokens = options.maxTokens ?? 20_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The operation, if its document was prepared before and is still kept; never parses. */
  peek(query: string, operationName: string | undefined): PreparedOperation | undefined {
    return this.entries.get(query)?.operations.get(operationName ?? '');
  }

  /** The operation to run, or the errors that stop it (syntax, validation, limits, unknown operation). */
  prepare(query: string, operationName: string | undefined): PreparedOperation | readonly GraphQLError[] {
    let cached = this.entries.get(query);
    if (cached !== undefined) {
      // Refresh recency: a Map iterates in insertion order, so the first key is the least recent.
      this.entries.delete(query);
      this.entries.set(query, cached);
    } else {
      const fresh = this.parseAndValidate(query);
      if (!('document' in fresh)) return fresh;
      cached = fresh;
      this.store(query, cached);
    }
    const key = operationName ?? '';
    let operation = cached.operations.get(key);
    if (operation === undefined) {
      const ast = getOperationAST(cached.document, operationName);
      if (ast == null) {
        const message = operationName
          ? `Unknown operation named "${operationName}"`
          : 'The document has several operations: give an operationName';
        return [new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } })];
      }
      operation = { document: cached.document, operationName, kind: ast.operation, runs: 0, compiled: undefined };
      cached.operations.set(key, operation);
    }
    return operation;
  }

  private parseAndValidate(query: string): CachedDocument | readonly GraphQLError[] {
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: this.maxTokens });
    } catch (error) {
      // A document nested thousands of levels deep exhausts the recursive parser's stack: a limit, not a bug.
      if (error instanceof RangeError)
        return [
          new GraphQLError('Query is too complex: nested too deeply', { extensions: { code: 'QUERY_TOO_COMPLEX' } }),
        ];
      const syntax = error instanceof GraphQLError ? error : new GraphQLError(String(error));
      return [
        new GraphQLError(syntax.message, {
          source: syntax.source,
          positions: syntax.positions,
          extensions: { code: 'GRAPHQL_PARSE_FAILED' },
        }),
      ];
    }
    const errors = validate(this.schema, document, this.rules);
    if (errors.length > 0) {
      return errors.map((e) => {
        if (e.extensions.code !== undefined) return e;
        // graphql-js's MaxIntrospectionDepthRule is a complexity limit like ours (limits.ts).
        const code = e.message.startsWith('Maximum introspection depth exceeded')
          ? 'QUERY_TOO_COMPLEX'
          : 'GRAPHQL_VALIDATION_FAILED';
        return new GraphQLError(e.message, { nodes: e.nodes, extensions: { code } });
      });
    }
    return { document, operations: new Map() };
  }

  private store(query: string, entry: CachedDocument): void {
    if (query.length > this.maxTotalChars) return;
    this.entries.set(query, entry);
    this.totalChars += query.length;
    while (this.entries.size > this.maxEntries || this.totalChars > this.maxTotalChars) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.totalChars -= oldest.length;
    }
  }
}
