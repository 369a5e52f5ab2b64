/**
 * The console's GraphQL client: one `fetch` to /graphql per operation. Plain fetch on purpose — the
 * console needs no normalised cache (the sessions table is driven by live events and re-reads), and
 * every error code the API defines must reach the screen unchanged.
 */

/** An error the API answered with (or a network failure, code NETWORK). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    /** For GATEWAY_UNAVAILABLE on a disconnect: `NOT_SENT` (still online) or `UNCONFIRMED` (may still happen). */
    readonly disconnect: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphqlReply<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; disconnect?: string } }[];
}

/** Runs one operation with the bearer token; resolves with `data` or throws ApiError with the API's code. */
export async function gql<T>(token: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'Switchboard cannot be reached. Is it running?', 0);
  }
  let reply: GraphqlReply<T>;
  try {
    reply = (await res.json()) as GraphqlReply<T>;
  } catch {
    throw new ApiError('INTERNAL', `Switchboard answered HTTP ${res.status} without a GraphQL body`, res.status);
  }
  const first = reply.errors?.[0];
  if (first !== undefined)
    throw new ApiError(
      first.extensions?.code ?? 'INTERNAL',
      first.message,
      res.status,
      first.extensions?.disconnect ?? null,
    );
  if (reply.data == null) throw new ApiError('INTERNAL', 'Switchboard answered without data', res.status);
  return reply.data;
}

/** What to tell an operator about an error, in plain words. */
export function explain(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return 'This token was not accepted: it is unknown, expired or revoked.';
    case 'FORBIDDEN':
      return `Not allowed with this token: ${error.message}`;
    case 'RATE_LIMITED':
      return 'Too many requests; Switchboard asked to slow down. Try again in a moment.';
    default:
      return error.message;
  }
}
