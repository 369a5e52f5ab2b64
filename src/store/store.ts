/**
 * The store port: one small repository per aggregate plus a transaction. The only implementation is
 * Kysely over SQLite or PostgreSQL (`kysely/`). May import `domain/` only.
 */
import type { ApiToken } from '../domain/token.js';
import type { AuditEvent, AuditAction, AuditOutcome } from '../domain/audit.js';
import type { Gateway, GatewayCapabilities } from '../domain/gateway.js';
import type { Block } from '../domain/block.js';
import type { EndCause, Session, SessionReport, Transport } from '../domain/session.js';
import type { DisconnectIntent, IntentStatus } from '../domain/disconnect-intent.js';
import type { DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery } from '../domain/webhook.js';
import type { AnnouncedEventType } from '../domain/event-types.js';

/** Keyset position for "newest first" lists: (time desc, id desc). Opaque to API clients. */
export interface Keyset {
  at: number;
  id: string;
}

/** What online sessions can be sorted by, besides the default newest first (CONNECTED_AT DESC). */
export type SessionSortField = 'CONNECTED_AT' | 'USER' | 'GATEWAY' | 'TRAFFIC';
export interface SessionOrder {
  field: SessionSortField;
  direction: 'ASC' | 'DESC';
}

export interface Page<T> {
  rows: T[];
  hasNextPage: boolean;
}

export interface SessionFilter {
  userId?: string;
  userName?: string;
  /** Case-insensitive (ASCII letters on SQLite, the database's lower() on PostgreSQL): user names containing it. */
  userNameContains?: string;
  /** An address as the console shows it: client `ip:port`, `[ipv6]:port`, its IP alone, or a virtual address (v4 or v6). Exact. */
  address?: string;
  gatewayId?: string;
  protocol?: string;
  clientIp?: string;
  /** Exclusive: connectedAt > connectedAfter. */
  connectedAfter?: number;
  /** Exclusive: connectedAt < connectedBefore. */
  connectedBefore?: number;
}

/** Which sessions, online and ended, a history lists; every set field must match. */
export interface SessionHistoryFilter {
  /** The whole user name, without regard to case (the database's lower(): ASCII letters only on SQLite). */
  userName?: string;
  /** As in `SessionFilter.address`: client `ip:port`, `[ipv6]:port`, its IP alone, or a virtual address. */
  address?: string;
  gatewayId?: string;
  sessionId?: string;
  /** true: ended sessions only; false: online ones only. */
  ended?: boolean;
}

export interface SessionEnd {
  endedAt: number;
  cause: EndCause;
  endedByTokenId?: string | null;
  endedByName?: string | null;
  endReason?: string | null;
  /** The daemon's last counters, written with the end (`markEnded` only): one statement, not two. */
  finalStats?: Pick<SessionReport, 'bytesReceived' | 'bytesSent'> & { lastSeenAt: number };
}

export interface SessionRepository {
  /**
   * Inserts unless a session with the same (gatewayId, ref) exists already; true when this call
   * inserted it. Replicas that apply the same report race here, and the database picks one winner.
   * An ended session gives its ref away to a later connection (one that connected after it did, or
   * another user's: a daemon restarted within the same second reuses refs); a late report of the
   * ended connection itself is not inserted. The ended row keeps its history under `<ref>~<id>`.
   */
  insertIfAbsent(session: Session): Promise<boolean>;
  /** Online or ended. */
  findById(id: string): Promise<Session | null>;
  /** Online only. */
  findOnline(id: string): Promise<Session | null>;
  /** The session (online or ended) a gateway's native ref maps to. */
  findByRef(gatewayId: string, ref: string): Promise<Session | null>;
  /** `findByRef` for many refs of one gateway at once; refs that map to no session are left out. */
  findByRefs(gatewayId: string, refs: readonly string[]): Promise<Session[]>;
  /** Online sessions, newest first (connectedAt desc, id desc), strictly after `after`. */
  listOnline(args: { first: number; after?: Keyset | null; filter?: SessionFilter }): Promise<Page<Session>>;
  /**
   * `listOnline`, with the gateways of the page's sessions read in the same statement (an API page
   * shows each session's gateway: on PostgreSQL one round trip, not two). `gateways` is null where
   * they are read as cheaply apart (SQLite's read cache keeps pages and gateways separately).
   */
  listOnlineWithGateways(args: {
    first: number;
    after?: Keyset | null;
    filter?: SessionFilter;
  }): Promise<Page<Session> & { gateways: Gateway[] | null }>;
  /**
   * Online sessions in `order`, ties by id in the same direction, strictly after the session
   * `afterId` (online or ended) at its current sort value. Traffic moves, so paging by it is a
   * snapshot of the moment each page is read.
   */
  listOnlineSorted(args: {
    first: number;
    afterId?: string | null;
    filter?: SessionFilter;
    order: SessionOrder;
  }): Promise<Page<Session>>;
  countOnline(filter?: SessionFilter): Promise<number>;
  /**
   * Sessions online and ended, newest first (connectedAt desc, id desc), strictly after `after`.
   * Ended sessions are kept: nothing deletes them, so a history reaches back to the first session.
   */
  listHistory(args: { first: number; after?: Keyset | null; filter?: SessionHistoryFilter }): Promise<Page<Session>>;
  countHistory(filter?: SessionHistoryFilter): Promise<number>;
  /** Every online session of one gateway (for reconciliation). */
  listOnlineByGateway(gatewayId: string): Promise<Session[]>;
  /** Refreshes counters and last-seen of an online session. */
  updateStats(
    id: string,
    stats: Pick<SessionReport, 'bytesReceived' | 'bytesSent'> & { lastSeenAt: number },
  ): Promise<void>;
  /**
   * Ends an online session. Returns the row as this call left it when this call ended it, null when
   * it was already ended (or does not exist): one statement, no read-back.
   * `claimEcho`: also succeed when the session was ended by the daemon's echo of an admin
   * disconnect (cause ADMIN_DISCONNECT, no actor yet), filling in actor and reason.
   */
  markEnded(id: string, end: SessionEnd, options?: { claimEcho?: boolean }): Promise<Session | null>;

  // Bulk forms for applying a gateway's snapshot or a burst of connects (`core/sync/`). Each takes
  // any number of rows and splits them into statements within the database's parameter limit.

  /** Like `listOnlineByGateway`, only the fields that reconciliation compares (far less memory). */
  listOnlineStatsByGateway(gatewayId: string): Promise<SessionStats[]>;
  /** `insertIfAbsent` for many sessions: the ids of those this call inserted. */
  insertManyIfAbsent(sessions: Session[]): Promise<Set<string>>;
  /** `updateStats` for many sessions of one gateway (its online ones only; another gateway's rows are left as they are). */
  updateStatsMany(gatewayId: string, stats: Omit<SessionStats, 'ref' | 'clientAddress' | 'transport'>[]): Promise<void>;
  /**
   * The client's current public address (and so its IP, which `clientIp` filters by) of online
   * sessions: a UDP client that floats keeps its session under a new address.
   */
  updateAddresses(changes: Pick<Session, 'id' | 'clientAddress'>[]): Promise<void>;
  /**
   * A transport learnt after the session was stored (an OpenVPN daemon tells its proto only in a
   * client's ENV block): set on online sessions that have none yet; a known transport is never changed.
   */
  fillTransports(changes: { id: string; transport: Transport }[]): Promise<void>;
  /**
   * `markEnded` for many sessions (without `finalStats`): those this call ended, as they are now.
   * `claimEcho` as for `markEnded` (a claimed echo keeps its `endedAt`).
   */
  markEndedMany(ids: string[], end: SessionEnd, options?: { claimEcho?: boolean }): Promise<Session[]>;
  /**
   * `markEnded` with `finalStats` for many sessions (a run of daemon reports of ends): each its own
   * `endedAt` and final counters, the rest of `end` shared; those this call ended, as they are now.
   * `claimEcho` as for `markEnded` (a claimed echo keeps its `endedAt` and gets the counters).
   */
  markEndedWithStats(
    ends: { id: string; endedAt: number; finalStats: NonNullable<SessionEnd['finalStats']> }[],
    end: Omit<SessionEnd, 'endedAt' | 'finalStats'>,
    options?: { claimEcho?: boolean },
  ): Promise<Session[]>;
}

/** What a snapshot refreshes of a known session (its address, when the client floated; its transport, once known). */
export type SessionStats = Pick<
  Session,
  'id' | 'ref' | 'bytesReceived' | 'bytesSent' | 'lastSeenAt' | 'clientAddress' | 'transport'
>;

/** A gateway as the config file or an agent describes it; capabilities only from an agent. */
export type GatewayUpsert = Pick<Gateway, 'id' | 'name' | 'region' | 'protocol' | 'mode'> &
  Partial<GatewayCapabilities>;

export interface GatewayRepository {
  /**
   * Inserts or updates name, region, protocol and mode (from the config file or an agent), and
   * `canBlock`/`warning` when given (left as they are when not; a new gateway cannot block).
   */
  upsert(gateway: GatewayUpsert): Promise<void>;
  findById(id: string): Promise<Gateway | null>;
  /**
   * Records `snapshot` (an agent run and sequence number) as the gateway's last applied snapshot, unless
   * it is already: false then (another replica applied that very snapshot and committed). Called in the
   * snapshot's transaction after the gateway's upsert, whose row lock orders the replicas, so the second
   * sees the first's commit. False too for a gateway with no row.
   */
  claimSnapshot(gatewayId: string, snapshot: string): Promise<boolean>;
  /** The gateways among `ids` that exist (any order), in one statement: a page of sessions reads its gateways so. */
  findByIds(ids: readonly string[]): Promise<Gateway[]>;
  /** The gateways not removed (see `setRemoved`), by id. */
  list(): Promise<Gateway[]>;
  /**
   * Fields left out (`daemonStartedAt`, `daemonResponding`) keep their stored values. `statusSince`
   * becomes `lastSeenAt` when `agentConnected` or a given `daemonResponding` differs from the stored one.
   */
  setAgentStatus(
    id: string,
    status: {
      agentConnected: boolean;
      lastSeenAt: number;
      daemonStartedAt?: number | null;
      daemonResponding?: boolean;
    },
  ): Promise<void>;
  /**
   * `upsert(gateway)` then `setAgentStatus(id, status)` in one statement (an agent's heartbeat: every
   * replica writes one per gateway every few seconds). A gateway new to the store gets its row with
   * this status; `daemonStartedAt` is kept. A removed gateway (`setRemoved`) is left as it is: false then.
   */
  recordHeartbeat(
    gateway: GatewayUpsert,
    status: { agentConnected: boolean; lastSeenAt: number; daemonResponding: boolean },
  ): Promise<boolean>;
  /**
   * `at`: a reload of a control plane's gateway file removed the gateway (a time already recorded is
   * kept); it is no longer listed, and heartbeats leave it alone. null: a gateway file lists it again.
   */
  setRemoved(id: string, at: number | null): Promise<void>;
  /**
   * Records a problem with the gateway's daemon link (its `lastError`). `lastErrorAt` is `at`, unless
   * the same error is repeated while the gateway has not been healthy since: then it keeps its first time.
   */
  recordError(id: string, error: string, at: number): Promise<void>;
  /** Online session count per gateway id; a gateway with none online is absent (read it as 0). */
  onlineCounts(): Promise<Map<string, number>>;
}

export interface TokenRepository {
  insert(token: ApiToken): Promise<void>;
  findById(id: string): Promise<ApiToken | null>;
  /** Candidates for a presented token, by its display prefix. */
  findByPrefix(prefix: string): Promise<ApiToken[]>;
  /** The tokens among `ids` that exist (any order): what a replica re-reads of the tokens behind its open streams. */
  findByIds(ids: readonly string[]): Promise<ApiToken[]>;
  list(): Promise<ApiToken[]>;
  /**
   * Every token (by id), for a transaction that decides on the whole set (is this the last admin
   * token?): on PostgreSQL their rows stay locked until it ends, so two such transactions run one
   * after the other and the second sees what the first wrote. SQLite's transactions already do.
   */
  listLocked(): Promise<ApiToken[]>;
  /**
   * Inside a transaction: waits until no other transaction holds the token set's lock, then holds it
   * until this one ends, so a check of "no token yet" and the insert that follows it are one step
   * (two replicas starting together on a fresh database mint one first token). On PostgreSQL a
   * transaction-scoped advisory lock; SQLite's transactions already run one at a time.
   */
  lockTokenSet(): Promise<void>;
  count(): Promise<number>;
  /** Returns false when the token does not exist or was already revoked. */
  revoke(id: string, at: number): Promise<boolean>;
  touch(id: string, at: number): Promise<void>;
}

export interface AuditFilter {
  action?: AuditAction;
  outcome?: AuditOutcome;
  actorTokenId?: string;
  requestId?: string;
  targetSessionId?: string;
  targetUserName?: string;
  targetGatewayId?: string;
  /** Inclusive: at >= since. */
  since?: number;
  /** Exclusive: at < until. */
  until?: number;
}

export interface AuditRepository {
  /** Append-only: there is no update and no delete. */
  append(event: AuditEvent): Promise<void>;
  /**
   * Appends unless an event with the same id exists; true when this call wrote it. For events that
   * several replicas record from the same report, under an id derived from that report.
   */
  appendIfAbsent(event: AuditEvent): Promise<boolean>;
  /** `append` for many events (multi-row statements within the database's parameter limit). */
  appendMany(events: AuditEvent[]): Promise<void>;
  list(args: { first: number; after?: Keyset | null; filter?: AuditFilter }): Promise<Page<AuditEvent>>;
  count(filter?: AuditFilter): Promise<number>;
}

/** What an attempt changes on its delivery. */
export interface DeliveryUpdate {
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
}

export interface WebhookRepository {
  insert(webhook: Webhook): Promise<void>;
  /** Deleted ones too (the dispatcher must know a delivery's webhook is gone). */
  findById(id: string): Promise<Webhook | null>;
  /** Webhooks not deleted, oldest first. */
  listActive(): Promise<Webhook[]>;
  /** False when it does not exist or was deleted already. */
  markDeleted(id: string, at: number): Promise<boolean>;
  /** Adds outbox rows (status PENDING); call it in the transaction of the change they report. */
  enqueue(deliveries: WebhookDelivery[]): Promise<void>;
  /**
   * Leases up to `limit` due PENDING deliveries until `leaseUntil` (of one webhook when `webhookId` is
   * given): rows another dispatcher holds are skipped, and no two callers get the same row.
   */
  claimDue(now: number, leaseUntil: number, limit: number, webhookId?: string): Promise<WebhookDelivery[]>;
  /** Ids of the webhooks (deleted ones too) that have a due PENDING delivery no one holds; at most `limit`. */
  dueWebhookIds(now: number, limit: number): Promise<string[]>;
  /** Records one attempt and its effect on the delivery (releasing the lease). */
  recordAttempt(attempt: WebhookAttempt, update: DeliveryUpdate): Promise<void>;
  /** Newest first. */
  listDeliveries(webhookId: string, first: number): Promise<WebhookDelivery[]>;
  /** In order of attempt. */
  listAttempts(deliveryIds: string[]): Promise<WebhookAttempt[]>;
  /** Per webhook with PENDING deliveries (deleted ones too, until dropped): how many, and when the oldest was queued. */
  backlog(): Promise<WebhookBacklog[]>;
}

/** One endpoint's queue: PENDING deliveries and the creation time of the oldest (ms). */
export interface WebhookBacklog {
  webhookId: string;
  pending: number;
  oldestCreatedAt: number;
}

export interface BlockRepository {
  /**
   * Records a block. Where the user is blocked on that gateway already, the later `until` wins (a
   * block is never shortened this way) and the rest of the row is the new block's. Returns the row.
   */
  put(block: Block): Promise<Block>;
  /** Blocks still in force at `now` (`until` later than it), by gateway then user. */
  listActive(now: number, filter?: { gatewayId?: string; userName?: string }): Promise<Block[]>;
  /** Removes the user's block on that gateway; the block as it was if it was still in force at `now`, else null. */
  lift(gatewayId: string, userName: string, now: number): Promise<Block | null>;
}

/** One announced fact in the event outbox. */
export interface OutboxEvent {
  /** Stable and unique (`evt_…`): subscribers and webhook receivers drop duplicates by it. */
  id: string;
  type: AnnouncedEventType;
  /** When the fact happened (ms). */
  at: number;
  /** The event as JSON text, exactly as it is published. */
  payload: string;
  /** When the row was written (ms): retention is measured from here. */
  createdAt: number;
}

/**
 * A publisher in this process that takes the events this process's transactions append
 * (core/event-relay.ts), so that it need not claim them from the outbox: see `Store.handOffOutbox`.
 */
export interface OutboxTaker {
  /** Until when rows appended now are leased to the taker; null: not taking now (rows are appended unleased). */
  leaseUntil(): number | null;
  /** After the transaction that appended `events` (leased to the taker) committed, in the order appended. */
  take(events: OutboxEvent[]): void;
}

/**
 * The event outbox: an event is written in the transaction of the change it reports, and a relay
 * publishes it afterwards (core/event-relay.ts). Rows are kept until pruned after a retention.
 */
export interface OutboxRepository {
  /** Adds unpublished events; call it in the transaction of the change they report. */
  append(events: OutboxEvent[]): Promise<void>;
  /**
   * `append`, then the active webhooks as `webhooks.listActive` reads them in the same transaction (a
   * session change's webhook deliveries are written with its events). On PostgreSQL the read is part
   * of the last insert's statement: one round trip instead of two.
   */
  appendListingWebhooks(events: OutboxEvent[]): Promise<Webhook[]>;
  /**
   * Leases up to `limit` unpublished events until `leaseUntil`, in the order they were written: rows
   * another relay holds (lease not yet expired) are skipped, and no two callers get the same row.
   */
  claim(now: number, leaseUntil: number, limit: number): Promise<OutboxEvent[]>;
  /** Marks events published (their lease no longer matters); unknown ids are ignored. */
  markPublished(ids: string[], at: number): Promise<void>;
  /**
   * Deletes up to `limit` rows: published ones written before `publishedBefore`, and unpublished ones
   * written before `unpublishedBefore` (given up). Returns how many of each were deleted.
   */
  prune(args: {
    publishedBefore: number;
    unpublishedBefore: number;
    limit: number;
  }): Promise<{ published: number; unpublished: number }>;
}

/** How an intent is settled (see DisconnectIntentRepository.settle). */
export interface IntentSettlement {
  status: Exclude<IntentStatus, 'PENDING'>;
  settledAt: number;
  settledAuditEventId: string;
}

/**
 * Disconnect intents (`domain/disconnect-intent.ts`): written before a gateway is asked, settled
 * once. Not part of the audit trail, so it may be updated.
 */
export interface DisconnectIntentRepository {
  /**
   * Inserts a PENDING intent unless the session has one already; true when this call inserted it.
   * Replicas disconnecting the same session race here, and the database picks one winner.
   */
  insertIfNoPending(intent: DisconnectIntent): Promise<boolean>;
  /**
   * `insertIfNoPending`, and when this call inserted the intent, its PENDING audit row: both rows or
   * neither, in a transaction or not (a failure, or a crash, leaves neither). True when inserted; false
   * (nothing written) when the session has a PENDING intent already. On PostgreSQL it is one statement,
   * so outside a transaction one round trip (see `Store.transactionsCostRoundTrips`).
   */
  recordIfNoPending(intent: DisconnectIntent, pendingRow: AuditEvent): Promise<boolean>;
  /**
   * `insertIfNoPending` for many intents (of distinct sessions): the ids of those this call inserted;
   * an intent whose session has a PENDING one already is not.
   */
  insertManyIfNoPending(intents: DisconnectIntent[]): Promise<Set<string>>;
  findById(id: string): Promise<DisconnectIntent | null>;
  /** The session's PENDING intent, if any. */
  findPending(sessionId: string): Promise<DisconnectIntent | null>;
  /** The PENDING intents of these sessions (any number of ids). */
  listPendingBySessions(sessionIds: string[]): Promise<DisconnectIntent[]>;
  /** PENDING intents created before `createdBefore`, oldest first, at most `limit`. */
  listPendingBefore(createdBefore: number, limit: number): Promise<DisconnectIntent[]>;
  /** PENDING → the settlement, in one conditional statement; false when it was not PENDING (any more). */
  settle(id: string, settlement: IntentSettlement): Promise<boolean>;
  /**
   * `settle` for many intents with one status and time, each with its own audit row id: the ids of
   * those this call settled (the others were not PENDING any more, or do not exist).
   */
  settleMany(
    intents: { id: string; settledAuditEventId: string }[],
    settlement: Omit<IntentSettlement, 'settledAuditEventId'>,
  ): Promise<Set<string>>;
  /**
   * `settle(id, { status: 'DONE', settledAt, settledAuditEventId: successRow.id })` and, only when this
   * call settled it, `sessions.markEnded(sessionId, end, { claimEcho: true })` and
   * `audit.append(successRow)`: all or nothing, in a transaction or not (a failure leaves the intent
   * PENDING, the session as it was, no row). null when the intent was not PENDING (settled elsewhere:
   * nothing written); else `ended`, what markEnded returned (the session as this call ended it, or
   * null when it had ended otherwise). On PostgreSQL one statement: the intent's row is locked from
   * this statement on, not from the first of three.
   */
  settleDone(
    id: string,
    settledAt: number,
    sessionId: string,
    end: SessionEnd,
    successRow: AuditEvent,
  ): Promise<{ ended: Session | null } | null>;
  /** Records that the caller was answered "not confirmed"; false when it was not PENDING (any more). */
  markUnconfirmed(id: string, at: number): Promise<boolean>;
}

/** The repositories, bound to one transaction or to the database. */
export interface StoreTx {
  sessions: SessionRepository;
  gateways: GatewayRepository;
  tokens: TokenRepository;
  audit: AuditRepository;
  webhooks: WebhookRepository;
  blocks: BlockRepository;
  outbox: OutboxRepository;
  intents: DisconnectIntentRepository;
}

/** What `Store.checkReady` found; `detail` is short, operator-facing text without credentials. */
export type StoreReadiness = { ok: true } | { ok: false; check: 'store' | 'migrations'; detail: string };

export interface Store extends StoreTx {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * True where BEGIN and COMMIT are each a round trip to the database server (PostgreSQL: a socket
   * write and a wait for another process, per statement): a write that ONE all-or-nothing call makes
   * (such as `intents.recordIfNoPending`) costs least alone, outside any transaction. False where
   * statements run in-process and a commit costs far more than they do (SQLite): concurrent writes
   * should share a transaction (group commit).
   */
  readonly transactionsCostRoundTrips: boolean;
  /** Runs `fn` in one database transaction; everything it writes commits or rolls back together. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * While `taker` is set, events appended in a transaction (`outbox.append`, `appendListingWebhooks`
   * of a `transaction`'s `tx`) are written already leased to it until `taker.leaseUntil()` (so no relay
   * claims them before then), and handed to `taker.take` once that transaction committed: one write
   * less per event than a claim. A rolled-back transaction hands nothing. Appends outside a
   * transaction, or while `leaseUntil()` is null, are written unleased. null stops handing off;
   * transactions already begun still hand theirs to the taker they began with.
   */
  handOffOutbox(taker: OutboxTaker | null): void;
  /**
   * One cheap query, answered within `timeoutMs` or counted as failed: `store` when the database did
   * not answer, `migrations` when a migration this code knows is not applied. Never throws. At most
   * one query is outstanding: callers during a check that hangs share it rather than piling up.
   */
  checkReady(timeoutMs: number): Promise<StoreReadiness>;
  /**
   * A number that moves with every write to the sessions or the gateways, made by this process or
   * (seen at the next read) another: equal numbers mean the online sessions, their counts and the
   * gateways read the same. null where no such number can be had (PostgreSQL: other replicas write
   * the same rows unseen).
   */
  readVersion(): number | null;
  /**
   * The deployment's id (`dep_…`): made once when the schema was created, the same for every replica
   * on this database, never another. Read once, then kept.
   */
  deploymentId(): Promise<string>;
  close(): Promise<void>;
}
