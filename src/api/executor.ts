/**
 * Runs a prepared operation. The first run of an operation uses graphql-js; from the second run on it
 * is compiled once with graphql-jit and the compiled function is reused (a one-off query, such as
 * introspection, is not worth a compilation; a hot one is). Anything graphql-jit cannot compile
 * stays on graphql-js.
 */
import {
  execute as graphqlExecute,
  getOperationAST,
  getVariableValues,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Logger } from '../domain/logger.js';
import type { ApiContext } from './context.js';
import type { PreparedOperation } from './document-cache.js';

/** Runs from which an operation is compiled. */
const COMPILE_ON_RUN = 2;

export type Execute = (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;

export function createExecutor(schema: GraphQLSchema, logger: Logger, options: { jit?: boolean } = {}): Execute {
  const jit = options.jit ?? true;

  function compile(operation: PreparedOperation): void {
    try {
      const compiled = compileQuery(schema, operation.document, operation.operationName);
      operation.compiled = isCompiledQuery(compiled) ? compiled : null;
      logger.trace(
        { operationName: operation.operationName, compiled: operation.compiled !== null },
        'graphql-jit compile',
      );
    } catch (err) {
      logger.warn(
        { err, operationName: operation.operationName },
        'graphql-jit could not compile an operation; using graphql-js',
      );
      operation.compiled = null;
    }
  }

  return function execute(args: ExecutionArgs): ExecutionResult | Promise<ExecutionResult> {
    const operation = (args.contextValue as ApiContext).operation;
    if (operation === null) return graphqlExecute(args);
    operation.runs += 1;
    if (jit && operation.compiled === undefined && operation.runs >= COMPILE_ON_RUN) compile(operation);
    if (operation.compiled) {
      const result = operation.compiled.query(undefined, args.contextValue, args.variableValues ?? null);
      // A compiled query answers without data only when its variables did not coerce, in graphql-jit's
      // own words ('Expected type String; String cannot represent …'). The client gets graphql-js's, as
      // on an operation's first run and on WebSocket and SSE (which always run graphql-js).
      return result instanceof Promise || 'data' in result ? result : (coercionErrors(args) ?? result);
    }
    return graphqlExecute(args);
  };

  /** graphql-js's errors for the operation's variables, or null when it finds none. */
  function coercionErrors(args: ExecutionArgs): ExecutionResult | null {
    const definition = getOperationAST(args.document, args.operationName);
    if (!definition) return null;
    const coerced = getVariableValues(schema, definition.variableDefinitions ?? [], args.variableValues ?? {}, {
      maxErrors: 50,
    });
    return coerced.errors ? { errors: coerced.errors } : null;
  }
}
