/**
 * The adapter port: what an agent needs from one VPN daemon, whatever its protocol. Implementations
 * live in sibling folders (`openvpn/`); a gateway's settings are in gateway-config.ts.
 * May import `domain/` only.
 */
import type { DisconnectMode, EndCause, SessionReport } from '../domain/session.js';
import type { GatewayCapabilities } from '../domain/gateway.js';
import type { BlockEntry } from '../domain/block.js';
import type { GatewayConfig } from './gateway-config.js';

export type {
  GatewayConfig,
  Ikev2GatewayConfig,
  OpenConnectGatewayConfig,
  OpenVpnGatewayConfig,
  WireGuardGatewayConfig,
  WireGuardPeerMapping,
} from './gateway-config.js';

/** Something the daemon told us, already in Switchboard's words. */
export type AdapterEvent =
  /** The control connection is up and this is everything the daemon reports as online. */
  | { type: 'snapshot'; daemonStartedAt: number | null; sessions: SessionReport[] }
  /** The event types are spelled as everywhere else (DESIGN.md's word table: one name per event type). */
  | { type: 'session.connected'; session: SessionReport }
  | {
      type: 'session.disconnected';
      ref: string;
      cause: EndCause;
      at: number;
      bytesReceived?: number;
      bytesSent?: number;
    }
  /** The control connection dropped (the daemon stopped, or the socket broke). */
  | { type: 'link-down'; error: string }
  /** The adapter refused a client's authentication (authorize mode: a user blocked by a disconnect). */
  | { type: 'auth-denied'; userName: string; reason: string; clientAddress: string | null; at: number }
  /** What `capabilities()` answers has changed (e.g. the daemon turned out not to run what the mode needs). */
  | { type: 'capabilities' }
  /** The daemon stopped answering the liveness probe (`responding: false`), or answers again. */
  | { type: 'responding'; responding: boolean };

export interface DisconnectCommand {
  ref: string;
  userName: string;
  mode: DisconnectMode;
  /** Shown to the user where the daemon can carry it. */
  message?: string | null;
  /** `authorize` mode only: deny this user's reconnects for this long. */
  blockSeconds?: number | null;
}

/**
 * What the daemon confirmed about the session a DisconnectCommand named (the adapter's vocabulary;
 * the API's answer is core's `DisconnectOutcome`). `ENDED`: the daemon confirmed it ended exactly
 * that session. `NOT_FOUND`: the daemon does not know it (already gone). Anything else rejects with
 * `GatewayUnavailableError`, which says whether the native command may still take effect.
 */
export type DisconnectConfirmation = 'ENDED' | 'NOT_FOUND';

/**
 * The daemon did not confirm. `mayTakeEffect` false: the command was certainly not handed to the
 * daemon (link down, daemon not responding, not written before the deadline) or the daemon refused
 * it. True: it was written (or may have been) and no answer came, so the daemon may still act on it.
 */
export class GatewayUnavailableError extends Error {
  readonly mayTakeEffect: boolean;
  constructor(message: string, options: { mayTakeEffect?: boolean } = {}) {
    super(message);
    this.name = 'GatewayUnavailableError';
    this.mayTakeEffect = options.mayTakeEffect ?? false;
  }
}

export interface GatewayAdapter {
  readonly config: GatewayConfig;
  /** Connects (and keeps reconnecting with backoff) until `stop()`. Events flow to `onEvent`. */
  start(onEvent: (event: AdapterEvent) => void): void;
  stop(): Promise<void>;
  /** Whether the control connection is up right now. */
  isConnected(): boolean;
  /**
   * Whether the daemon answered its last liveness probe in time (true until a probe says otherwise).
   * While false, `disconnect` fails at once and sends nothing: a command must not queue behind a stall.
   */
  isResponding(): boolean;
  disconnect(command: DisconnectCommand, deadlineMs: number): Promise<DisconnectConfirmation>;
  /** Takes a fresh snapshot now (also taken periodically and on every reconnect). */
  snapshot(): Promise<void>;
  /**
   * Whether it can deny reconnects (a disconnect's `blockSeconds`) and what it found wrong with its
   * daemon; an adapter without it cannot block.
   */
  capabilities?(): GatewayCapabilities;
  /** Replaces the blocks it enforces (the control plane's list for this gateway). */
  setBlocks?(blocks: BlockEntry[], lifted?: string[]): void;
}
