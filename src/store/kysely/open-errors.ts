/**
 * Why a store could not be opened, in one line that names the setting and the cause: PostgreSQL not
 * reachable, the login refused, the database missing, a SQLite file that cannot be opened. The CLI
 * prints it without a stack. Neither the URL's password nor anything else secret is in it: the store
 * is named by `describeTarget`, and node-postgres does not put the URL in its errors.
 */
import { StoreSetupError } from './store-setup-error.js';
import { errorText } from '../../domain/errors.js';

/** Socket codes, said in words (Node 20 reports a refused dual-stack connect as an AggregateError without a message). */
const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** PostgreSQL SQLSTATEs met when connecting, with what they mean for the operator. */
const PG_WORDS: Record<string, string> = {
  '3D000': 'the database does not exist',
  '28P01': 'the login was refused (wrong password)',
  '28000': 'the login was refused (unknown role, or not allowed by pg_hba.conf)',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'the server has too many connections',
};

/** `error`, thrown while opening `store` (a `describeTarget` text), as a StoreSetupError. */
export function storeOpenError(error: unknown, store: string): StoreSetupError {
  if (error instanceof StoreSetupError) return error;
  const e = error as Error & { code?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = errorText(error).split('\n')[0]!.trim();
  let cause: string;
  if (code !== undefined && NETWORK_WORDS[code]) cause = `not reachable: ${NETWORK_WORDS[code]} (${code})`;
  else if (code !== undefined && PG_WORDS[code]) cause = `${PG_WORDS[code]}: ${message}`;
  else if (/timeout exceeded when trying to connect|connection timeout/i.test(message))
    cause = `not reachable: no answer in time (${message})`;
  else
    cause =
      message === ''
        ? (code ?? 'unknown error')
        : code !== undefined && !message.includes(code)
          ? `${message} (${code})`
          : message;
  return new StoreSetupError(`SWITCHBOARD_DATABASE_URL: cannot open ${store}: ${cause}`, { cause: error });
}
