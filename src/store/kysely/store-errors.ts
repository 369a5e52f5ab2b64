/**
 * Turns "the database cannot be reached" into DomainError STORE_UNAVAILABLE (HTTP 503), so that an
 * outage (PostgreSQL restarted, connections cut by `pg_terminate_backend`, the network gone, SQLite
 * locked past its busy timeout) answers fast and clearly instead of as an internal error. Other
 * errors pass through untouched. The pool drops a broken connection, so the next query opens a new
 * one: the store recovers by itself once the database is back.
 */
import type { DatabaseConnection, Dialect, Driver, QueryResult } from 'kysely';
import { DomainError } from '../../domain/errors.js';
import type { Logger } from '../../domain/logger.js';

/** Socket errors that mean the database is not there (now). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'SQLITE_BUSY',
]);
/** SQLSTATEs of a server that went away or will not take us now (class 08: connection exception). */
const PG_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** node-postgres says these in plain text, without a code. */
const PG_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection ended unexpectedly/i;

export const STORE_UNAVAILABLE_MESSAGE = 'The database is unavailable; try again shortly';

/** Whether `error` means the database cannot be used right now (rather than a bug or bad data). */
export function isStoreUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PG_CODES.has(code) || code.startsWith('08'))) return true;
  return PG_MESSAGES.test(error.message);
}

function translate(error: unknown, logger: Logger | undefined): unknown {
  if (error instanceof DomainError || !isStoreUnavailable(error)) return error;
  const e = error as Error & { code?: unknown };
  // The cause's message names the failure, never credentials (pg does not put the URL in errors).
  logger?.error({ code: e.code, cause: e.message }, 'database unavailable');
  return new DomainError('STORE_UNAVAILABLE', STORE_UNAVAILABLE_MESSAGE, { cause: error });
}

/** Turns the translation on (`active`), once start-up is over; until then errors keep their detail. */
export interface StoreErrorSwitch {
  active: boolean;
}

/** The store's translation of a failure: `translate`'s once `on` is active, the error itself before. */
export function storeErrorTranslation(logger: Logger | undefined, on: StoreErrorSwitch): (e: unknown) => unknown {
  return (e: unknown) => (on.active ? translate(e, logger) : e);
}

/** Kysely's driver, with every failure of every call (connections, queries, transactions) translated. */
export function withStoreErrors(dialect: Dialect, logger: Logger | undefined, on: StoreErrorSwitch): Dialect {
  return new Proxy(dialect, {
    get(target, prop, receiver) {
      if (prop !== 'createDriver') return Reflect.get(target, prop, receiver);
      return () => wrapDriver(target.createDriver(), storeErrorTranslation(logger, on));
    },
  });
}

function wrapDriver(driver: Driver, translate: (e: unknown) => unknown): Driver {
  const originals = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const unwrap = (arg: unknown) =>
    typeof arg === 'object' && arg !== null && originals.has(arg as DatabaseConnection)
      ? originals.get(arg as DatabaseConnection)
      : arg;
  const wrapConnection = (connection: DatabaseConnection): DatabaseConnection => {
    const wrapped: DatabaseConnection = {
      async executeQuery<R>(query: Parameters<DatabaseConnection['executeQuery']>[0]): Promise<QueryResult<R>> {
        try {
          return await connection.executeQuery<R>(query);
        } catch (e) {
          throw translate(e);
        }
      },
      async *streamQuery<R>(
        query: Parameters<DatabaseConnection['streamQuery']>[0],
        chunkSize?: number,
      ): AsyncIterableIterator<QueryResult<R>> {
        try {
          yield* connection.streamQuery<R>(query, chunkSize);
        } catch (e) {
          throw translate(e);
        }
      },
    };
    originals.set(wrapped, connection);
    return wrapped;
  };
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          const result: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args.map(unwrap));
          return prop === 'acquireConnection' ? wrapConnection(result as DatabaseConnection) : result;
        } catch (e) {
          throw translate(e);
        }
      };
    },
  });
}
