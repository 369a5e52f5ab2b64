import type { Scope } from './scopes.js';

/** Who did something: the token behind a request, and where the request came from. */
export interface Actor {
  tokenId: string | null;
  name: string;
  scopes: readonly Scope[];
  clientIp: string | null;
  userAgent: string | null;
  /**
   * The id of the request (HTTP, SSE) or WebSocket operation acting, as its logs and audit rows
   * carry it; absent for work Switchboard does by itself and for the CLI.
   */
  requestId?: string;
}

/** The actor for work Switchboard does by itself (sync, expiry), never an API caller. */
export const SYSTEM_ACTOR: Actor = { tokenId: null, name: 'switchboard', scopes: ['admin'], clientIp: null, userAgent: null };
