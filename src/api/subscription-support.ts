/**
 * What both subscription transports share: parse and validate with the API's limits, map errors to
 * the API's codes, and bind each operation to the actor its connection authenticated as.
 */
import {
  GraphQLError,
  Lexer,
  Source,
  TokenKind,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { Logger } from '../domain/logger.js';
import type { CoreApi, TokenEnd } from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import { createContext, type ApiContext } from './context.js';
import { mapExecutionError, type ApiErrorCode } from './errors.js';
import { DEFAULT_LIMITS, queryLimitsRule } from './limits.js';

const RULES = [...specifiedRules, queryLimitsRule(DEFAULT_LIMITS)];
const MAX_TOKENS = 5_000;
/** Brackets open at once; far beyond the depth limit, far below what exhausts the parser's stack. */
const MAX_NESTING = 256;

/** The deepest nesting of `{`, `(` and `[` among the first `maxTokens` tokens (the lexer does not recurse). */
function nestingDepth(query: string, maxTokens: number): number {
  const lexer = new Lexer(new Source(query));
  let depth = 0;
  let deepest = 0;
  try {
    for (
      let n = 0, token = lexer.advance();
      token.kind !== TokenKind.EOF && n < maxTokens;
      n++, token = lexer.advance()
    ) {
      if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.PAREN_L || token.kind === TokenKind.BRACKET_L)
        deepest = Math.max(deepest, ++depth);
      else if (
        token.kind === TokenKind.BRACE_R ||
        token.kind === TokenKind.PAREN_R ||
        token.kind === TokenKind.BRACKET_R
      )
        depth -= 1;
    }
  } catch {
    // A syntax error: the parser reports it.
  }
  return deepest;
}

/**
 * The parsed document, or the errors a client gets for it — the same codes as on the HTTP path
 * (document-cache.ts): a parser stack exhausted by nesting is QUERY_TOO_COMPLEX, an operation that
 * cannot be picked out of the document is BAD_USER_INPUT.
 */
export function prepareDocument(
  schema: GraphQLSchema,
  query: string,
  operationName?: string | null,
): DocumentNode | readonly GraphQLError[] {
  let document: DocumentNode;
  const tooDeep = () => [
    new GraphQLError('Query is too complex: nested too deeply', { extensions: { code: 'QUERY_TOO_COMPLEX' } }),
  ];
  // Measured before parsing: whether the recursive parser's stack or its token limit gives out first
  // on a document nested thousands deep depends on the stack left, and the answer must not.
  if (nestingDepth(query, MAX_TOKENS) > MAX_NESTING) return tooDeep();
  try {
    document = parse(query, { maxTokens: MAX_TOKENS });
  } catch (e) {
    if (e instanceof RangeError) return tooDeep();
    return [
      new GraphQLError(e instanceof Error ? e.message : 'Syntax error', {
        extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      }),
    ];
  }
  const errors = validate(schema, document, RULES);
  if (errors.length > 0) {
    return errors.map((e) => {
      if (e.extensions.code) return e;
      const code = e.message.startsWith('Maximum introspection depth exceeded')
        ? 'QUERY_TOO_COMPLEX'
        : 'GRAPHQL_VALIDATION_FAILED';
      return new GraphQLError(e.message, { nodes: e.nodes, extensions: { code } });
    });
  }
  if (getOperationAST(document, operationName ?? undefined) == null) {
    const message = operationName
      ? `Unknown operation named "${operationName}"`
      : 'The document has several operations: give an operationName';
    return [new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } })];
  }
  return document;
}

/**
 * Errors of an executed operation as the API shows them: a DomainError's code, anything else INTERNAL.
 * A result without data whose errors are no domain error is a request that never ran (its variables
 * did not coerce): the client's mistake, in HTTP's words and code (BAD_USER_INPUT unless the scalar
 * that refused it gave one), not a fault to log.
 */
export function formatResult(result: ExecutionResult, logger: Logger): ExecutionResult {
  if (!result.errors || result.errors.length === 0) return result;
  const errors = result.errors.map((e) => {
    // Already ours (an earlier hook formatted it, or validation set the code): keep it as it is.
    if (e.originalError === undefined && typeof e.extensions?.code === 'string') return e;
    const original = e.originalError;
    // A scalar's own refusal of a variable ('DateTime must be …', coded already) is shown in the words
    // around it ('Variable "$t" got invalid value "nope"; DateTime must be …'), as on HTTP, not alone.
    const code = original instanceof GraphQLError ? original.extensions.code : undefined;
    if (
      result.data === undefined &&
      (original === undefined || (original instanceof GraphQLError && code !== 'INTERNAL'))
    ) {
      // With its place in the document, as on HTTP.
      return new GraphQLError(e.message, {
        nodes: e.nodes,
        source: e.source,
        positions: e.positions,
        extensions: { code: typeof code === 'string' ? code : 'BAD_USER_INPUT' },
      });
    }
    const f = mapExecutionError(e, logger);
    return new GraphQLError(f.message, { path: f.path, extensions: f.extensions });
  });
  return { ...result, errors };
}

/** The bearer token of `Authorization: Bearer …`, or null. */
export function bearerOf(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * The context of one subscription. It lives as long as the subscription, so the per-request memo of
 * gateway lookups would go stale (a gateway's agent comes and goes): each lookup is made afresh.
 */
export function subscriptionContext(core: CoreApi, actor: Actor, logger: Logger): ApiContext {
  const ctx = createContext(core, actor, logger, 'application/json');
  const live = Object.create(ctx) as ApiContext;
  live.gateway = (id: string) => createContext(core, actor, logger, 'application/json').gateway(id);
  return live;
}

/** One coded GraphQL error, as both transports send refusals (limits, caps, a token that ended). */
export function codedError(
  code: ApiErrorCode,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** What a stream says when its token stops being valid: UNAUTHENTICATED, with why. */
export function tokenEndedError(end: TokenEnd): GraphQLError {
  return codedError('UNAUTHENTICATED', end === 'revoked' ? 'The API token was revoked' : 'The API token has expired', {
    reason: end === 'revoked' ? 'TOKEN_REVOKED' : 'TOKEN_EXPIRED',
  });
}

/** Set once by the token watch; `endable` streams end on it. */
export interface StreamEnd {
  end: TokenEnd | null;
  /** Resolves when `end` is set. */
  readonly ended: Promise<TokenEnd>;
  fire(end: TokenEnd): void;
  /** Resolves when the client went away (`gone()`): the stream ends without a last result. */
  readonly left: Promise<typeof GONE>;
  gone(): void;
}

const GONE = Symbol('gone');

export function streamEnd(): StreamEnd {
  let resolve!: (end: TokenEnd) => void;
  let leave!: (gone: typeof GONE) => void;
  const s: StreamEnd = {
    end: null,
    ended: new Promise<TokenEnd>((r) => (resolve = r)),
    fire(end) {
      if (s.end !== null) return;
      s.end = end;
      resolve(end);
    },
    left: new Promise((r) => (leave = r)),
    gone: () => leave(GONE),
  };
  return s;
}

/**
 * `source`, ended by `signal`: when the token ends, one last result carrying the coded error, then the
 * end of the stream (and `return()` on the source, which releases its subscription); when the client
 * went away, the end at once — without waiting for the source's next event, which may never come.
 */
export function endable(source: AsyncIterable<ExecutionResult>, signal: StreamEnd): AsyncGenerator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  return (async function* guarded() {
    try {
      for (;;) {
        const next = await Promise.race([it.next(), signal.ended, signal.left]);
        if (next === GONE) return;
        if (typeof next === 'string') {
          yield { errors: [tokenEndedError(next)] };
          return;
        }
        if (next.done) {
          // The event hub may have heard of the revocation first and ended the source: say why all the same.
          await new Promise((r) => setImmediate(r));
          if (signal.end !== null) yield { errors: [tokenEndedError(signal.end)] };
          return;
        }
        yield next.value;
      }
    } finally {
      await it.return?.();
    }
  })();
}
