/**
 * The use cases as the API sees them. `api/` calls these and nothing else; every method checks the
 * actor's scope itself and throws `DomainError` with a code.
 */
import type { Actor } from '../domain/actor.js';
import type { AuditEvent } from '../domain/audit.js';
import type { Gateway } from '../domain/gateway.js';
import type { Block } from '../domain/block.js';
import type { BlockFilter } from './blocks.js';
import type { WireStatus } from './report-intake.js';
import type { ApiToken } from '../domain/token.js';
import type { Scope } from '../domain/scopes.js';
import type { DisconnectMode, Session } from '../domain/session.js';
import type { AuditFilter, SessionFilter, SessionHistoryFilter, SessionOrder, WebhookBacklog } from '../store/store.js';
import type { SessionEventFilter } from './session-event-stream.js';
import type { SessionEvent } from './session-events.js';
import type { TokenEnd } from './token-watch.js';
import type { DeliveryView, WebhookView } from './webhooks.js';

/** Re-exported so `api/` can name the filters without importing the store. */
export type { Block, BlockFilter };
export type {
  AuditFilter,
  SessionFilter,
  SessionHistoryFilter,
  SessionOrder,
  WebhookBacklog,
  SessionEvent,
  SessionEventFilter,
  DeliveryView,
  WebhookView,
  TokenEnd,
};

/** A bulk disconnect: every online session matching `filter` (types here so that api-types imports no use case). */
export interface BulkDisconnectInput {
  filter?: SessionFilter;
  /** Exactly these sessions (chosen rows), instead of a filter; at most BULK_MAX_SESSION_IDS. */
  sessionIds?: string[];
  /** Required to end every online session (an empty filter). */
  all?: boolean;
  reason?: string | null;
  message?: string | null;
  mode?: DisconnectMode;
  blockSeconds?: number | null;
}

export interface BulkDisconnectResult {
  matched: number;
  ended: number;
  /** Matched, but gone by the time its turn came (ended by the client, another operator, a snapshot). */
  alreadyGone: number;
  failed: number;
  errors: { sessionId: string; code: string; message: string; disconnect: string | null }[];
  /** One entry per matched session, in the order they were matched. */
  results: BulkDisconnectOne[];
}

/** What happened to one session of a bulk disconnect. NOT_SENT: still online; UNCONFIRMED: may still take effect. */
export type BulkDisconnectOutcome = 'ENDED' | 'ALREADY_GONE' | 'NOT_SENT' | 'UNCONFIRMED' | 'FAILED';
export interface BulkDisconnectOne {
  sessionId: string;
  outcome: BulkDisconnectOutcome;
  /** The error code when it did not end (null when ENDED). */
  code: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  /** Computed only when asked for (it costs a COUNT). */
  totalCount: () => Promise<number>;
  /**
   * `onlineSessions` only, where the store read them with the page: the statuses of the page's
   * gateways, so that showing them needs no second read (ApiContext.knowGateways).
   */
  gateways?: readonly GatewayStatus[];
}

export interface DisconnectOptions {
  mode?: DisconnectMode;
  reason?: string | null;
  message?: string | null;
  blockSeconds?: number | null;
}

/**
 * The API's answer to a disconnect (GraphQL's `DisconnectOutcome`); what the daemon confirmed is the
 * adapter's `DisconnectConfirmation`.
 */
export type DisconnectOutcome = 'DISCONNECTED';

export interface DisconnectResult {
  /** The session as it is now (ended). */
  session: Session;
  outcome: DisconnectOutcome;
  auditEventId: string;
}

export interface GatewayView extends Gateway, Partial<WireStatus> {
  sessionsOnline: number;
  /**
   * Until when (ms) `agentConnected` stays true if the agent is not heard from again: after it, the
   * same row reads as not connected. null when it is false already (time alone does not change it).
   */
  liveUntil?: number | null;
}

/**
 * What `CoreApi.readVersion` gives: `version` moves with every change the online sessions, their
 * counts or the gateways could show; `at` is the core's clock now (for `GatewayView.liveUntil`).
 */
export interface ReadVersion {
  version: number;
  at: number;
}

/** A gateway as a page of sessions needs it (`Session.gateway`, `confirmed`): without the online count. */
export type GatewayStatus = Omit<GatewayView, 'sessionsOnline'>;

/** The caller as `whoami` describes it: never the token's secret or hash. */
export interface ViewerInfo {
  tokenId: string | null;
  name: string;
  scopes: Scope[];
}

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  /** The request's id (see api/request-id.ts), carried by the actor into logs and audit rows. */
  requestId?: string;
}

export interface CoreApi {
  /** Bearer token → Actor. Throws UNAUTHENTICATED for a missing, malformed, unknown, expired or revoked token. */
  authenticate(bearer: string | null, meta: RequestMeta): Promise<Actor>;
  /**
   * The actor as its token allows it now: each operation on a long-lived connection (a WebSocket) asks
   * before it runs. UNAUTHENTICATED when the token was revoked or has expired; else the current scopes.
   * `fresh`: read the token's row even where a cached state would do (mutations).
   */
  authorize(actor: Actor, options?: { fresh?: boolean }): Promise<Actor>;
  /**
   * Calls `onEnd` once when the actor's token is revoked (through the API on any replica, or the CLI)
   * or expires, within about half a second. Returns the function that stops watching.
   */
  watchToken(actor: Actor, onEnd: (end: TokenEnd) => void): () => void;
  /** Who the actor is and what it may do; needs no scope (any authenticated token may ask). */
  whoami(actor: Actor): Promise<ViewerInfo>;
  /** `order`: default newest first; another order pages by its own cursors (BAD_CURSOR for another order's). */
  onlineSessions(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionFilter; order?: SessionOrder },
  ): Promise<Connection<Session>>;
  onlineSession(actor: Actor, id: string): Promise<Session | null>;
  /** Sessions online and ended, newest first (a user's, an address's…). Needs `sessions:read`. */
  sessionHistory(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionHistoryFilter },
  ): Promise<Connection<Session>>;
  /**
   * The version of what `onlineSessions`, `onlineSession`, `gateways` and `gatewayStatus` answer: two
   * equal versions (and a clock before every `liveUntil` an answer carried) mean the same answers.
   * It moves synchronously with every write, so a change acknowledged to anyone moved it first. null
   * where no such version exists (PostgreSQL: other replicas write unseen). Needs no actor: it tells
   * nothing but a number.
   */
  readVersion(): ReadVersion | null;
  /** Resolves only after the gateway confirmed. SESSION_NOT_FOUND / FORBIDDEN / GATEWAY_UNAVAILABLE otherwise. */
  disconnect(actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult>;
  /**
   * Ends every online session matching `filter` (each through `disconnect`, each audited). An empty
   * filter needs `all: true` (BAD_USER_INPUT otherwise).
   */
  disconnectSessions(actor: Actor, input: BulkDisconnectInput): Promise<BulkDisconnectResult>;
  /**
   * Live session events matching `filter`, from now on, until the iterator's `return()`. Needs
   * `sessions:read` (FORBIDDEN, thrown at once, otherwise).
   */
  sessionEvents(actor: Actor, filter: SessionEventFilter): AsyncIterableIterator<SessionEvent>;
  /** Webhooks (scope `admin`). The signing secret is returned once, by `createWebhook`. */
  createWebhook(
    actor: Actor,
    args: { url: string; events: string[]; description?: string | null },
  ): Promise<{ webhook: WebhookView; secret: string }>;
  webhooks(actor: Actor): Promise<WebhookView[]>;
  deleteWebhook(actor: Actor, id: string): Promise<WebhookView>;
  /** A webhook's deliveries, newest first, each with its attempts. */
  webhookDeliveries(actor: Actor, webhookId: string, first?: number | null): Promise<DeliveryView[]>;
  /**
   * Each endpoint's queue (PENDING deliveries, the oldest one's creation time), for metrics. Needs
   * `sessions:read`, the scope a metrics scraper holds: it shows webhook ids and counts, no URL.
   */
  webhookBacklog(actor: Actor): Promise<WebhookBacklog[]>;
  gateways(actor: Actor): Promise<GatewayView[]>;
  /** Blocks in force (a disconnect's `blockSeconds`), by gateway then user. Needs `sessions:read`. */
  blocks(actor: Actor, filter?: BlockFilter): Promise<Block[]>;
  /** Ends a block now; audited. Needs `sessions:disconnect`. BLOCK_NOT_FOUND when none is in force. */
  liftBlock(actor: Actor, input: { gatewayId: string; userName: string; reason?: string | null }): Promise<Block>;
  gateway(actor: Actor, id: string): Promise<GatewayView | null>;
  /**
   * Gateways without their online count, which is a COUNT over the gateway's online sessions: a page
   * of sessions asks for its gateways on every request and must not pay for it unless it is selected.
   * One answer per id, in order (null: no such gateway); one store read for all of them.
   */
  gatewayStatuses(actor: Actor, ids: readonly string[]): Promise<(GatewayStatus | null)[]>;
  /** How many sessions are online on one gateway. */
  gatewaySessionsOnline(actor: Actor, id: string): Promise<number>;
  auditEvents(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: AuditFilter },
  ): Promise<Connection<AuditEvent>>;
  createToken(
    actor: Actor,
    args: { name: string; scopes: Scope[]; expiresInMs?: number | null },
  ): Promise<{ token: ApiToken; secret: string }>;
  listTokens(actor: Actor): Promise<ApiToken[]>;
  /** `force`: needed to revoke the last valid admin token (else LAST_ADMIN_TOKEN). */
  revokeToken(actor: Actor, id: string, options?: { force?: boolean }): Promise<ApiToken>;
}
