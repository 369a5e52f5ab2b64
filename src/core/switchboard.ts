import type { KillsInFlight } from './kills-in-flight.js';
import type { SettledIntents } from './settled-intents.js';
import type { Actor } from '../domain/actor.js';
import type { AuditEvent } from '../domain/audit.js';
import { DomainError } from '../domain/errors.js';
import { GATEWAY_PROBLEM } from '../domain/gateway.js';
import { MAX_TOKEN_NAME_CHARS } from '../domain/input-limits.js';
import { hasScope, type Scope } from '../domain/scopes.js';
import { refusalText, refusedCharacter } from '../domain/text.js';
import type { Session } from '../domain/session.js';
import { tokenIsActive, type ApiToken } from '../domain/token.js';
import type { Bus } from '../bus/bus.js';
import type {
  AuditFilter,
  Page,
  SessionFilter,
  SessionHistoryFilter,
  SessionOrder,
  Store,
  WebhookBacklog,
} from '../store/store.js';
import type {
  BulkDisconnectInput,
  BulkDisconnectResult,
  Connection,
  CoreApi,
  DisconnectOptions,
  DisconnectResult,
  GatewayStatus,
  GatewayView,
  ReadVersion,
  RequestMeta,
  ViewerInfo,
} from './api-types.js';
import { auditEvent } from './audit.js';
import { BlockAdmin, type BlockFilter, type SnapshotsApplied } from './blocks.js';
import type { Block } from '../domain/block.js';
import { bulkDisconnect } from './bulk-disconnect.js';
import {
  decodeCursor,
  decodeSortedCursor,
  encodeCursor,
  encodeSortedCursor,
  isNewestFirst,
  pageSize,
} from './cursor.js';
import { DisconnectUseCase } from './disconnect.js';
import type { DeploymentConflict } from './deployment-guard.js';
import { appendTokenRevoked } from './event-outbox.js';
import type { StoreHealth } from './event-relay.js';
import type { Logger } from '../domain/logger.js';
import type { WireStatus } from './report-intake.js';
import { SessionEventHub, type SessionEventFilter } from './session-event-stream.js';
import type { SessionEvent } from './session-events.js';
import { WebhookAdmin, type DeliveryView, type WebhookView } from './webhooks.js';
import { authenticate, mintToken } from './tokens.js';
import { TokenWatch, type TokenEnd } from './token-watch.js';

export interface CoreOptions {
  store: Store;
  bus: Bus;
  logger: Logger;
  /** How long a gateway has to confirm a disconnect. */
  disconnectDeadlineMs: number;
  /** A gateway whose agent was not heard from for this long shows as not connected. */
  gatewayLivenessMs: number;
  /** This replica's view of a gateway's messages (dropped reports, an unreadable wire version). */
  wireStatus?: (gatewayId: string) => WireStatus;
  /** How often the tokens behind open streams are re-read (default 500 ms; see token-watch.ts). */
  tokenPollMs?: number;
  now?: () => number;
  /** Shared with this process's sync: intents settled by a daemon's report, for the disconnect waiting on the reply. */
  settled?: SettledIntents;
  /** Shared with this process's sync: the daemon's reports of sessions whose kill awaits its reply here. */
  kills?: KillsInFlight;
  /** Another deployment heard on this bus prefix (see deployment-guard.ts): disconnects are refused meanwhile. */
  deploymentConflict?: () => DeploymentConflict | null;
  /** This deployment's id (many hosts), carried by every kill request to an agent. */
  deploymentId?: string;
}

/** The use cases behind the API, with their scope checks. */
export class Switchboard implements CoreApi {
  private readonly disconnectUseCase: DisconnectUseCase;
  private readonly now: () => number;
  private readonly hub: SessionEventHub;
  private readonly blockAdmin: BlockAdmin;
  private readonly webhookAdmin: WebhookAdmin;
  private readonly tokenWatch: TokenWatch;

  constructor(private readonly o: CoreOptions) {
    this.now = o.now ?? Date.now;
    this.tokenWatch = new TokenWatch({
      tokens: o.store.tokens,
      bus: o.bus,
      logger: o.logger,
      now: () => this.now(),
      cachedReads: o.store.dialect === 'sqlite',
      pollMs: o.tokenPollMs,
    });
    this.hub = new SessionEventHub({ bus: o.bus, logger: o.logger });
    this.blockAdmin = new BlockAdmin({ store: o.store, bus: o.bus, logger: o.logger, now: this.now });
    this.webhookAdmin = new WebhookAdmin({ store: o.store, now: this.now });
    this.disconnectUseCase = new DisconnectUseCase({
      store: o.store,
      bus: o.bus,
      logger: o.logger,
      deadlineMs: o.disconnectDeadlineMs,
      now: this.now,
      settled: o.settled,
      kills: o.kills,
      conflict: o.deploymentConflict,
      deploymentId: o.deploymentId,
    });
  }

  authenticate(bearer: string | null, meta: RequestMeta): Promise<Actor> {
    return authenticate(this.o.store.tokens, bearer, meta, this.now());
  }

  authorize(actor: Actor, options?: { fresh?: boolean }): Promise<Actor> {
    return this.tokenWatch.authorize(actor, options);
  }

  watchToken(actor: Actor, onEnd: (end: TokenEnd) => void): () => void {
    return this.tokenWatch.watch(actor, onEnd);
  }

  async whoami(actor: Actor): Promise<ViewerInfo> {
    return { tokenId: actor.tokenId, name: actor.name, scopes: [...actor.scopes] };
  }

  async onlineSessions(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionFilter; order?: SessionOrder },
  ): Promise<Connection<Session>> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to list sessions');
    const first = pageSize(args.first);
    const filter = args.filter ?? {};
    const count = () => this.o.store.sessions.countOnline(filter);
    const order = args.order;
    if (order === undefined || isNewestFirst(order)) {
      const page = await this.o.store.sessions.listOnlineWithGateways({
        first,
        after: decodeCursor(args.after),
        filter,
      });
      const listed = connection(page, (s) => encodeCursor({ at: s.connectedAt, id: s.id }), count);
      return page.gateways === null ? listed : { ...listed, gateways: page.gateways.map((g) => this.status(g)) };
    }
    const page = await this.o.store.sessions.listOnlineSorted({
      first,
      afterId: decodeSortedCursor(args.after, order),
      filter,
      order,
    });
    return connection(page, (s) => encodeSortedCursor(order, s.id), count);
  }

  readVersion(): ReadVersion | null {
    const version = this.o.store.readVersion();
    return version === null ? null : { version, at: this.now() };
  }

  async onlineSession(actor: Actor, id: string): Promise<Session | null> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read sessions');
    return this.o.store.sessions.findOnline(id);
  }

  async sessionHistory(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionHistoryFilter },
  ): Promise<Connection<Session>> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read session history');
    const filter = args.filter ?? {};
    const page = await this.o.store.sessions.listHistory({
      first: pageSize(args.first),
      after: decodeCursor(args.after),
      filter,
    });
    return connection(
      page,
      (s) => encodeCursor({ at: s.connectedAt, id: s.id }),
      () => this.o.store.sessions.countHistory(filter),
    );
  }

  blocks(actor: Actor, filter?: BlockFilter): Promise<Block[]> {
    return this.blockAdmin.list(actor, filter);
  }

  liftBlock(actor: Actor, input: { gatewayId: string; userName: string; reason?: string | null }): Promise<Block> {
    return this.blockAdmin.lift(actor, input);
  }

  /** Hands every gateway's agent its blocks (see BlockAdmin); returns the function that stops it. */
  deliverBlocks(sync: SnapshotsApplied): () => void {
    this.blockAdmin.start(sync);
    return () => this.blockAdmin.stop();
  }

  disconnect(actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult> {
    return this.disconnectUseCase.run(actor, sessionId, options);
  }

  disconnectSessions(actor: Actor, input: BulkDisconnectInput): Promise<BulkDisconnectResult> {
    return bulkDisconnect(
      {
        store: this.o.store,
        disconnect: this.disconnectUseCase,
        now: this.now,
        settled: this.o.settled,
        kills: this.o.kills,
      },
      actor,
      input,
    );
  }

  /** What the event relay learns of the store: while it is unavailable, live event streams end (see SessionEventHub). */
  eventStoreHealth(health: StoreHealth): void {
    this.hub.setStoreHealth(health);
  }

  sessionEvents(actor: Actor, filter: SessionEventFilter): AsyncIterableIterator<SessionEvent> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to follow session events');
    return this.hub.stream(filter, actor.tokenId);
  }

  createWebhook(
    actor: Actor,
    args: { url: string; events: string[]; description?: string | null },
  ): Promise<{ webhook: WebhookView; secret: string }> {
    return this.webhookAdmin.create(actor, args);
  }

  webhooks(actor: Actor): Promise<WebhookView[]> {
    return this.webhookAdmin.list(actor);
  }

  deleteWebhook(actor: Actor, id: string): Promise<WebhookView> {
    return this.webhookAdmin.delete(actor, id);
  }

  webhookDeliveries(actor: Actor, webhookId: string, first?: number | null): Promise<DeliveryView[]> {
    return this.webhookAdmin.deliveries(actor, webhookId, first);
  }

  webhookBacklog(actor: Actor): Promise<WebhookBacklog[]> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read webhook queues');
    return this.o.store.webhooks.backlog();
  }

  async gateways(actor: Actor): Promise<GatewayView[]> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to list gateways');
    const [list, counts] = await Promise.all([this.o.store.gateways.list(), this.o.store.gateways.onlineCounts()]);
    return list.map((g) => this.view(g, counts.get(g.id) ?? 0));
  }

  async gateway(actor: Actor, id: string): Promise<GatewayView | null> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read gateways');
    const g = await this.o.store.gateways.findById(id);
    if (!g) return null;
    const counts = await this.o.store.gateways.onlineCounts();
    return this.view(g, counts.get(g.id) ?? 0);
  }

  async gatewayStatuses(actor: Actor, ids: readonly string[]): Promise<(GatewayStatus | null)[]> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read gateways');
    const found = new Map((await this.o.store.gateways.findByIds(ids)).map((g) => [g.id, g]));
    return ids.map((id) => {
      const g = found.get(id);
      return g ? this.status(g) : null;
    });
  }

  async gatewaySessionsOnline(actor: Actor, id: string): Promise<number> {
    requireScope(actor, 'sessions:read', 'The sessions:read scope is required to read gateways');
    return this.o.store.sessions.countOnline({ gatewayId: id });
  }

  async auditEvents(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: AuditFilter },
  ): Promise<Connection<AuditEvent>> {
    requireScope(actor, 'audit:read', 'The audit:read scope is required to read the audit trail');
    const page = await this.o.store.audit.list({
      first: pageSize(args.first),
      after: decodeCursor(args.after),
      filter: args.filter ?? {},
    });
    return connection(
      page,
      (e) => encodeCursor({ at: e.at, id: e.id }),
      () => this.o.store.audit.count(args.filter ?? {}),
    );
  }

  async createToken(
    actor: Actor,
    args: { name: string; scopes: Scope[]; expiresInMs?: number | null },
  ): Promise<{ token: ApiToken; secret: string }> {
    return (await this.insertToken(actor, args, false))!;
  }

  /**
   * The first-start admin token (`bootstrap-admin`): created only when the store holds no token at
   * all, checked and inserted under the token set's lock, so replicas that start together on a fresh
   * database create one between them. Null when there already is a token (the others' answer).
   */
  async createBootstrapToken(actor: Actor): Promise<{ token: ApiToken; secret: string } | null> {
    return this.insertToken(actor, { name: 'bootstrap-admin', scopes: ['admin'] }, true);
  }

  private async insertToken(
    actor: Actor,
    args: { name: string; scopes: Scope[]; expiresInMs?: number | null },
    firstOnly: boolean,
  ): Promise<{ token: ApiToken; secret: string } | null> {
    requireScope(actor, 'admin', 'Admin access required to manage tokens');
    const name = args.name.trim();
    if (name === '' || name.length > MAX_TOKEN_NAME_CHARS)
      throw new DomainError('BAD_USER_INPUT', `name must be 1 to ${MAX_TOKEN_NAME_CHARS} characters`);
    if (args.scopes.length === 0) throw new DomainError('BAD_USER_INPUT', 'at least one scope is required');
    // Names are printed by `switchboard token list`, the console and logs: no control characters
    // (terminal escapes, forged lines), no bidi controls (one name made to read as another). The API's
    // input gate refuses the same; this check is for the CLI and any other caller.
    const refused = refusedCharacter(name, 'name');
    if (refused) throw new DomainError('BAD_USER_INPUT', `name ${refusalText(refused)}`);
    const maxLifetimeMs = 10 * 366 * 86_400_000;
    if (args.expiresInMs != null && (!Number.isSafeInteger(args.expiresInMs) || args.expiresInMs > maxLifetimeMs)) {
      throw new DomainError('BAD_USER_INPUT', 'expiresIn must be at most 10 years (3660d)');
    }
    const now = this.now();
    const minted = mintToken({
      name,
      scopes: args.scopes,
      expiresAt: args.expiresInMs ? now + args.expiresInMs : null,
      now,
    });
    const inserted = await this.o.store.transaction(async (tx) => {
      if (firstOnly) {
        await tx.tokens.lockTokenSet();
        if ((await tx.tokens.count()) > 0) return false;
      }
      await tx.tokens.insert(minted.token);
      await tx.audit.append(
        auditEvent(actor, 'token.create', 'SUCCESS', {
          at: now,
          metadata: { tokenId: minted.token.id, name, scopes: minted.token.scopes, expiresAt: minted.token.expiresAt },
        }),
      );
      return true;
    });
    return inserted ? minted : null;
  }

  async listTokens(actor: Actor): Promise<ApiToken[]> {
    requireScope(actor, 'admin', 'Admin access required to manage tokens');
    return this.o.store.tokens.list();
  }

  /**
   * Revokes a token at once. Revoking the last valid admin token takes `force`: without one, no API
   * caller can manage tokens any more (only `switchboard token create` on the server can mint one).
   * The check runs in the revoking transaction; the refusal is audited (FAILED, LAST_ADMIN_TOKEN).
   */
  async revokeToken(actor: Actor, id: string, options: { force?: boolean } = {}): Promise<ApiToken> {
    requireScope(actor, 'admin', 'Admin access required to manage tokens');
    const now = this.now();
    const outcome = await this.o.store.transaction(async (tx) => {
      const target = await tx.tokens.findById(id);
      if (!target || target.revokedAt !== null) return null;
      // Locked: two admins revoking each other at once on PostgreSQL both saw the other valid, and
      // both went, leaving no admin token without \`force\`.
      const lastAdmin = isLastValidAdmin(target, await tx.tokens.listLocked(), now);
      if (lastAdmin && options.force !== true) {
        await tx.audit.append(
          auditEvent(actor, 'token.revoke', 'FAILED', {
            at: now,
            errorCode: 'LAST_ADMIN_TOKEN',
            metadata: { tokenId: id, name: target.name },
          }),
        );
        return 'last-admin' as const;
      }
      if (!(await tx.tokens.revoke(id, now))) return null;
      await tx.audit.append(
        auditEvent(actor, 'token.revoke', 'SUCCESS', {
          at: now,
          metadata: lastAdmin ? { tokenId: id, lastAdminToken: true, forced: true } : { tokenId: id },
        }),
      );
      // Announced from the outbox: every replica ends the token's live subscriptions (requests are refused by the store).
      await appendTokenRevoked(tx, id, now);
      return tx.tokens.findById(id);
    });
    if (outcome === 'last-admin') throw new DomainError('LAST_ADMIN_TOKEN', LAST_ADMIN_TOKEN_MESSAGE);
    if (!outcome) throw new DomainError('TOKEN_NOT_FOUND', 'Token not found or already revoked');
    const token = outcome;
    return token;
  }

  private view(g: GatewayStatus, sessionsOnline: number): GatewayView {
    return { ...this.status(g), sessionsOnline };
  }

  private status(g: GatewayStatus): GatewayStatus {
    const liveUntil = g.lastSeenAt === null ? null : g.lastSeenAt + this.o.gatewayLivenessMs;
    const fresh = liveUntil !== null && this.now() <= liveUntil;
    const agentConnected = g.agentConnected && fresh;
    // An agent that fell silent while its link was up: the link is down since it was last heard,
    // and that is the problem (what the store holds is as of its last report).
    const silent = g.agentConnected && !fresh && g.lastSeenAt !== null;
    // Nothing vouches for a daemon whose agent is not connected: it is not known to respond.
    return {
      ...g,
      agentConnected,
      daemonResponding: g.daemonResponding && agentConnected,
      ...(silent ? { statusSince: g.lastSeenAt, lastError: GATEWAY_PROBLEM.notHeard, lastErrorAt: g.lastSeenAt } : {}),
      // Until then the view stays as it is without a write (then `silent` and `agentConnected` turn).
      liveUntil: agentConnected ? liveUntil : null,
      ...this.o.wireStatus?.(g.id),
    };
  }
}

/** Why revoking the last valid admin token is refused, and how to do it anyway. */
export const LAST_ADMIN_TOKEN_MESSAGE =
  'This is the last valid admin token: once it is revoked no API token can manage tokens, and only `switchboard token create` on the server can make a new one. To revoke it anyway, repeat with force (API: force: true; CLI: --force)';

/** Whether `target` is valid, has `admin`, and no other valid token has it. */
function isLastValidAdmin(target: ApiToken, tokens: readonly ApiToken[], now: number): boolean {
  const validAdmin = (t: ApiToken) => tokenIsActive(t, now) && t.scopes.includes('admin');
  return validAdmin(target) && !tokens.some((t) => t.id !== target.id && validAdmin(t));
}

function requireScope(actor: Actor, scope: Scope, message: string): void {
  if (!hasScope(actor.scopes, scope)) throw new DomainError('FORBIDDEN', message);
}

/**
 * Connections built from a page the store handed out before (its cache of online reads returns the
 * same page until the next write): the edges and cursors are reused, not encoded again.
 */
type Edges<T> = Omit<Connection<T>, 'totalCount'>;
const connections = new WeakMap<Page<unknown>, Edges<unknown>>();

function connection<T>(page: Page<T>, cursorOf: (row: T) => string, totalCount: () => Promise<number>): Connection<T> {
  let built = connections.get(page) as Edges<T> | undefined;
  if (!built) {
    built = buildConnection(page, cursorOf);
    connections.set(page, built);
  }
  return { edges: built.edges, pageInfo: built.pageInfo, totalCount };
}

function buildConnection<T>(page: Page<T>, cursorOf: (row: T) => string): Edges<T> {
  const edges = page.rows.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
