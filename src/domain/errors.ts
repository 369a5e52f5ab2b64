/** Machine-readable error codes. The API maps each to an HTTP status in one place (api/errors.ts). */
export type ErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'GATEWAY_UNAVAILABLE'
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
  /**
   * Another deployment announces itself on this deployment's NATS subject prefix (HTTP 503): its agent
   * might take a disconnect, so none is sent until it has not been heard for a while.
   */
  | 'DEPLOYMENT_CONFLICT'
  | 'INTERNAL';

/** The one error type that crosses layers; `code` decides how it is shown to API clients. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  /** More machine-readable detail, shown beside `code` (e.g. `disconnect: "NOT_SENT"`). */
  readonly extensions: Readonly<Record<string, string>>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; extensions?: Record<string, string> }) {
    super(message, options);
    this.name = 'DomainError';
    this.code = code;
    this.extensions = options?.extensions ?? {};
  }
}

/** The seed's exact messages. */
export const MESSAGES = {
  sessionNotFound: 'Session not found or already disconnected',
  disconnectForbidden: 'Admin access required to disconnect sessions',
  unauthenticated: 'A valid API token is required',
  blockUnsupported:
    'This gateway cannot block reconnects (only an authorize gateway whose daemon runs management-client-auth can); nothing was done',
  /** GATEWAY_UNAVAILABLE with `disconnect: "NOT_SENT"`: certainly never reached the daemon. */
  disconnectNotSent: 'The disconnect could not be sent to the gateway; the session is still online',
  /** GATEWAY_UNAVAILABLE with `disconnect: "UNCONFIRMED"`: it may have reached the daemon. */
  disconnectUnconfirmed: 'The gateway did not confirm the disconnect in time; it may still take effect',
  /** GATEWAY_UNAVAILABLE with `disconnect: "UNCONFIRMED"`: another disconnect of the session is unsettled. */
  disconnectPending:
    'A disconnect of this session is already under way and not yet confirmed; it may still take effect',
} as const;

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

/** The text of anything thrown: an Error's message, else its string form (for logs and one-line messages). */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
