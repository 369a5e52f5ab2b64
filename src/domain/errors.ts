/** Machine-readable error codes. The API maps each to an HTTP status in one place (api/errors.ts). */
export type ErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'GATEWAY_UNAVAILABLE'
  | 'GATEWAY_NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'BAD_CURSOR'
  | 'TOKEN_NOT_FOUND'
  | 'WEBHOOK_NOT_FOUND'
  /** Revoking this token would leave no valid admin token; it takes an explicit force. */
  | 'LAST_ADMIN_TOKEN'
  /** A disconnect asked for `blockSeconds` on a gateway that cannot deny reconnects; nothing was done. */
  | 'BLOCK_UNSUPPORTED'
  /** No active block for that user on that gateway (never blocked, expired or lifted). */
  | 'BLOCK_NOT_FOUND'
  /** The database cannot be reached or used right now (HTTP 503); retrying later may succeed. */
  | 'STORE_UNAVAILABLE'
  /** The message bus (NATS) cannot be reached right now (HTTP 503): live events cannot reach this replica. */
  | 'BUS_UNAVAILABLE'
  | 'INTERNAL';

/** The one error type that crosses layers; `code` decides how it is shown to API clients. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DomainError';
    this.code = code;
  }
}

/** The seed's exact messages. */
export const MESSAGES = {
  sessionNotFound: 'Session not found or already disconnected',
  disconnectForbidden: 'Admin access required to disconnect sessions',
  unauthenticated: 'A valid API token is required',
  gatewayUnavailable: 'The gateway did not confirm the disconnect in time; the session is still online',
  blockUnsupported: 'This gateway cannot block reconnects (only an authorize gateway whose daemon runs management-client-auth can); nothing was done',
} as const;

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

/** The text of anything thrown: an Error's message, else its string form (for logs and one-line messages). */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
