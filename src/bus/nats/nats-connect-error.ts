import { AuthorizationError, ConnectionError, TimeoutError, UserAuthenticationExpiredError } from '@nats-io/transport-node';
import { scrubSecrets } from './nats-url.js';
import { errorText } from '../../domain/errors.js';

/** Why the first connection failed: wrong or missing credentials, nobody listening, or something else. */
export type NatsConnectFailure = 'AUTHORIZATION' | 'UNREACHABLE' | 'OTHER';

/**
 * The first connection to NATS failed. The message names the servers (without credentials) and the
 * cause, and never contains a password or token.
 */
export class NatsConnectError extends Error {
  readonly reason: NatsConnectFailure;
  constructor(reason: NatsConnectFailure, message: string) {
    super(message);
    this.name = 'NatsConnectError';
    this.reason = reason;
  }
}

/** Turns whatever the client threw into a `NatsConnectError`, scrubbed of `secrets`. */
export function toConnectError(
  e: unknown,
  o: { servers: string[]; auth: 'user/password' | 'token' | 'none'; secrets: Array<string | undefined> },
): NatsConnectError {
  const where = o.servers.join(',');
  const cause = errorText(e);
  let reason: NatsConnectFailure = 'OTHER';
  let text = `could not connect to NATS at ${where}: ${cause}`;
  if (e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError) {
    reason = 'AUTHORIZATION';
    const given = o.auth === 'none' ? 'no credentials were given' : `${o.auth} credentials were given`;
    text = `NATS at ${where} refused the connection (${cause}): check the credentials; ${given}`;
  } else if (e instanceof ConnectionError || e instanceof TimeoutError) {
    reason = 'UNREACHABLE';
    text = `NATS is not reachable at ${where}: ${cause}`;
  }
  return new NatsConnectError(reason, scrubSecrets(text, o.secrets));
}
