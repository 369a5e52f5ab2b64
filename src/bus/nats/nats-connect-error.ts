import {
  AuthorizationError,
  ConnectionError,
  TimeoutError,
  UserAuthenticationExpiredError,
} from '@nats-io/transport-node';
import { scrubSecrets } from './nats-url.js';
import type { TlsFailure, TlsVerdict } from './nats-tls-probe.js';
import { errorText } from '../../domain/errors.js';

/**
 * Why the first connection failed: wrong or missing credentials, nobody listening, a certificate one
 * side refused (the server's by our CA file, ours by the server), no TLS where it was asked for, or
 * something else.
 */
export type NatsConnectFailure = 'AUTHORIZATION' | 'UNREACHABLE' | TlsFailure | 'OTHER';

/** The kind of credentials that were given. */
export type NatsAuthKind = 'user/password' | 'token' | 'credentials file' | 'NKEY seed' | 'none';

/**
 * The first connection to NATS failed. The message names the servers (without credentials) and the
 * cause, and never contains a password, token, seed or JWT.
 */
export class NatsConnectError extends Error {
  readonly reason: NatsConnectFailure;
  /** The credentials given, so the caller can name the setting to look at. */
  readonly auth: NatsAuthKind;
  constructor(reason: NatsConnectFailure, message: string, auth: NatsAuthKind = 'none') {
    super(message);
    this.name = 'NatsConnectError';
    this.reason = reason;
    this.auth = auth;
  }
}

/** The server refused the credentials (or they expired). */
export function isAuthorizationError(e: unknown): boolean {
  return e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError;
}

/** Node's codes for a server certificate it does not trust (unknown CA, self-signed, expired, wrong name). */
const CERTIFICATE_CODES = /CERT|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|SELF_SIGNED/;

/**
 * Turns whatever the client threw into a `NatsConnectError`, scrubbed of `secrets`; `tls` is what a
 * TLS probe found, when one ran.
 */
export function toConnectError(
  e: unknown,
  o: { servers: string[]; auth: NatsAuthKind; secrets: Array<string | undefined>; tls?: TlsVerdict | null },
): NatsConnectError {
  const where = o.servers.join(',');
  const cause = errorText(e);
  const code = (e as { code?: unknown }).code;
  let reason: NatsConnectFailure = 'OTHER';
  let text = `could not connect to NATS at ${where}: ${cause}`;
  if (isAuthorizationError(e)) {
    reason = 'AUTHORIZATION';
    const given = o.auth === 'none' ? 'no credentials were given' : `${o.auth} credentials were given`;
    text = `NATS at ${where} refused the connection (${cause}): check the credentials; ${given}`;
  } else if (o.tls) {
    reason = o.tls.reason;
    text = `TLS with NATS at ${where} failed: ${o.tls.detail}`;
  } else if (typeof code === 'string' && CERTIFICATE_CODES.test(code)) {
    reason = 'TLS_SERVER_CERTIFICATE';
    text = `TLS with NATS at ${where} failed: the server's certificate was not accepted: ${cause} (${code})`;
  } else if (e instanceof ConnectionError || e instanceof TimeoutError) {
    reason = 'UNREACHABLE';
    text = `NATS is not reachable at ${where}: ${cause}`;
  }
  return new NatsConnectError(reason, scrubSecrets(text, o.secrets), o.auth);
}
