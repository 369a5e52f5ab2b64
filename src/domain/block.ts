/**
 * A user denied reconnects on one gateway until a time, after an operator's disconnect with
 * `blockSeconds`. Kept by the user's verified identity (see the gateway's `identity`).
 */
export interface Block {
  gatewayId: string;
  userName: string;
  /** Ms since the epoch; from then on the user may connect again. */
  until: number;
  blockedAt: number;
  /** Who blocked: the token of the disconnect that set it (null for Switchboard's own). */
  blockedByTokenId: string | null;
  blockedByName: string;
  reason: string | null;
  /** The message the disconnect that set it sent the user (clients that support it show it), if any. */
  message: string | null;
  /** The session whose disconnect set it, if any. */
  sessionId: string | null;
}

/** What an agent needs to enforce a block. */
export interface BlockEntry {
  userName: string;
  until: number;
}
