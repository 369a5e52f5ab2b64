import type { Scope } from './scopes.js';

/** Who did something: the token behind a request, and where the request came from. */
export interface Actor {
  tokenId: string | null;
  name: string;
  scopes: readonly Scope[];
  /**
   * The API caller's address (GraphQL's `Actor.ip`, the audit's `actorIp`). The VPN client's address
   * is the session's `clientAddress`, and its IP what the sessions' `clientIp` filter matches.
   */
  ip: string | null;
  userAgent: string | null;
  /**
   * The id of the request (HTTP, SSE) or WebSocket operation acting, as its logs and audit rows
   * carry it; absent for work Switchboard does by itself and for the CLI.
   */
  requestId?: string;
}

/** The actor for work Switchboard does by itself (sync, expiry), never an API caller. */
export const SYSTEM_ACTOR: Actor = { tokenId: null, name: 'switchboard', scopes: ['admin'], ip: null, userAgent: null };
