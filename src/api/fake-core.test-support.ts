/**
 * An in-memory CoreApi for the API tests: the same scope rules, errors and paging as core promises,
 * plus counters so tests can prove what was (not) called. Not a model of core's internals.
 */
import type { Block, BlockFilter } from '../core/api-types.js';
import type {
  Connection,
  CoreApi,
  DisconnectOptions,
  DisconnectResult,
  GatewayStatus,
  GatewayView,
  ReadVersion,
  RequestMeta,
} from '../core/api-types.js';
import type {
  AuditFilter,
  BulkDisconnectInput,
  BulkDisconnectResult,
  SessionEvent,
  SessionEventFilter,
  SessionFilter,
  SessionHistoryFilter,
  DeliveryView,
  WebhookView,
  ViewerInfo,
  WebhookBacklog,
} from '../core/api-types.js';
import type { Actor } from '../domain/actor.js';
import type { AuditEvent } from '../domain/audit.js';
import { DomainError, MESSAGES } from '../domain/errors.js';
import { newAuditEventId, newSessionId, newTokenId, newTokenSecret, userIdFor } from '../domain/ids.js';
import { hasScope, type Scope } from '../domain/scopes.js';
import { ipOf, type Session } from '../domain/session.js';
import type { ApiToken } from '../domain/token.js';

export interface FakeCalls {
  authenticate: { bearer: string | null; meta: RequestMeta }[];
  disconnect: { sessionId: string; options: DisconnectOptions }[];
  gateway: string[];
  /** The ids of each `gatewayStatuses` call: one read per call. */
  gatewayBatches: string[][];
  onlineSessions: { first?: number | null; after?: string | null; filter?: SessionFilter }[];
  auditEvents: { first?: number | null; after?: string | null; filter?: AuditFilter }[];
  totalCount: number;
}

function requireScope(actor: Actor, scope: Scope, message = `The ${scope} scope is required`): void {
  if (!hasScope(actor.scopes, scope)) throw new DomainError('FORBIDDEN', message);
}

function encodeCursor(at: number, id: string): string {
  return Buffer.from(`v1:${at}:${id}`).toString('base64url');
}

function decodeCursor(cursor: string | null | undefined): { at: number; id: string } | null {
  if (cursor == null || cursor === '') return null;
  const m = /^v1:(\d{1,16}):([a-z]{2,5}_[a-z0-9]{1,32})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new DomainError('BAD_CURSOR', 'The cursor is not valid; use a cursor returned by this API');
  return { at: Number(m[1]), id: m[2]! };
}

function pageSize(first: number | null | undefined): number {
  if (first == null) return 50;
  if (!Number.isInteger(first) || first < 1 || first > 500)
    throw new DomainError('BAD_USER_INPUT', 'first must be an integer from 1 to 500');
  return first;
}

/** Newest first, strictly after the cursor; a Relay connection like core's. */
function page<T>(
  rows: T[],
  keyOf: (row: T) => { at: number; id: string },
  args: { first?: number | null; after?: string | null },
  count: () => number,
): Connection<T> {
  const first = pageSize(args.first);
  const after = decodeCursor(args.after);
  const sorted = [...rows].sort((a, b) => keyOf(b).at - keyOf(a).at || (keyOf(b).id < keyOf(a).id ? -1 : 1));
  const rest =
    after === null
      ? sorted
      : sorted.filter((r) => keyOf(r).at < after.at || (keyOf(r).at === after.at && keyOf(r).id < after.id));
  const slice = rest.slice(0, first);
  const edges = slice.map((node) => ({ cursor: encodeCursor(keyOf(node).at, keyOf(node).id), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rest.length > first,
      hasPreviousPage: after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: async () => count(),
  };
}

export class FakeCore implements CoreApi {
  readonly sessions = new Map<string, Session>();
  readonly gatewayRows = new Map<string, GatewayView>();
  readonly audit: AuditEvent[] = [];
  private readonly tokens = new Map<string, ApiToken>();
  readonly calls: FakeCalls = {
    authenticate: [],
    disconnect: [],
    gateway: [],
    gatewayBatches: [],
    onlineSessions: [],
    auditEvents: [],
    totalCount: 0,
  };
  /** When false, disconnects fail as the gateway not confirming in time. */
  gatewayConfirms = true;
  /** When set, onlineSessions throws it (an unexpected failure, e.g. of the database). */
  explode: Error | null = null;
  now = Date.parse('2024-05-01T12:00:00.000Z');
  /** What readVersion answers (null: no version, so the API keeps no answers); a test moves it by hand. */
  version: number | null = null;

  /** Adds a token and returns its secret, shaped like core's (`sbt_<8>_<40>`). */
  addToken(name: string, scopes: Scope[], extra: Partial<ApiToken> = {}): string {
    const secret = newTokenSecret();
    this.tokens.set(secret, {
      id: newTokenId(),
      name,
      prefix: secret.slice(0, 12),
      secretHash: 'x',
      scopes,
      createdAt: this.now,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      ...extra,
    });
    return secret;
  }

  addGateway(id: string, extra: Partial<GatewayView> = {}): GatewayView {
    const g: GatewayView = {
      id,
      name: `Gateway ${id}`,
      region: 'eu-west',
      protocol: 'openvpn',
      mode: 'observe',
      agentConnected: true,
      lastSeenAt: this.now,
      daemonStartedAt: null,
      canBlock: false,
      warning: null,
      daemonResponding: true,
      statusSince: null,
      lastError: null,
      lastErrorAt: null,
      removedAt: null,
      sessionsOnline: 0,
      ...extra,
    };
    this.gatewayRows.set(id, g);
    return g;
  }

  addSession(extra: Partial<Session> = {}): Session {
    const userName = extra.userName ?? 'alice';
    const s: Session = {
      id: newSessionId(),
      ref: `1:${this.sessions.size}`,
      userName,
      commonName: userName,
      clientAddress: '203.0.113.7:51234',
      virtualAddress: '10.8.0.6',
      virtualAddress6: null,
      connectedAt: this.now - 60_000 * (this.sessions.size + 1),
      bytesReceived: 5_000_000_000,
      bytesSent: 1234,
      clientVersion: '2.6.9',
      clientPlatform: 'linux',
      gatewayId: 'gw-1',
      userId: userIdFor(userName),
      protocol: 'openvpn',
      lastSeenAt: this.now,
      endedAt: null,
      endCause: null,
      endedByTokenId: null,
      endedByName: null,
      endReason: null,
      group: null,
      device: null,
      transport: null,
      ...extra,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  async authenticate(bearer: string | null, meta: RequestMeta): Promise<Actor> {
    this.calls.authenticate.push({ bearer, meta });
    const t = bearer === null ? undefined : this.tokens.get(bearer);
    if (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= this.now))
      throw new DomainError('UNAUTHENTICATED', MESSAGES.unauthenticated);
    return { tokenId: t.id, name: t.name, scopes: t.scopes, ip: meta.ip, userAgent: meta.userAgent };
  }

  readVersion(): ReadVersion | null {
    return this.version === null ? null : { version: this.version, at: this.now };
  }

  async authorize(actor: Actor): Promise<Actor> {
    const t = [...this.tokens.values()].find((x) => x.id === actor.tokenId);
    if (actor.tokenId !== null && (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= this.now)))
      throw new DomainError('UNAUTHENTICATED', MESSAGES.unauthenticated);
    return actor;
  }

  /** Token ends are core's (tested end to end against the real core); the fake never ends a stream. */
  watchToken(): () => void {
    return () => {};
  }

  async whoami(actor: Actor): Promise<ViewerInfo> {
    return { tokenId: actor.tokenId, name: actor.name, scopes: [...actor.scopes] };
  }

  async onlineSessions(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionFilter },
  ): Promise<Connection<Session>> {
    this.calls.onlineSessions.push(args);
    requireScope(actor, 'sessions:read');
    if (this.explode) throw this.explode;
    const f = args.filter ?? {};
    const rows = [...this.sessions.values()].filter(
      (s) =>
        s.endedAt === null &&
        (f.userId === undefined || s.userId === f.userId) &&
        (f.userName === undefined || s.userName === f.userName) &&
        (f.gatewayId === undefined || s.gatewayId === f.gatewayId) &&
        (f.protocol === undefined || s.protocol === f.protocol) &&
        (f.clientIp === undefined || ipOf(s.clientAddress) === f.clientIp) &&
        (f.connectedAfter === undefined || s.connectedAt >= f.connectedAfter) &&
        (f.connectedBefore === undefined || s.connectedAt < f.connectedBefore),
    );
    return page(
      rows,
      (s) => ({ at: s.connectedAt, id: s.id }),
      args,
      () => {
        this.calls.totalCount += 1;
        return rows.length;
      },
    );
  }

  async sessionHistory(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: SessionHistoryFilter },
  ): Promise<Connection<Session>> {
    requireScope(actor, 'sessions:read');
    const f = args.filter ?? {};
    const rows = [...this.sessions.values()].filter(
      (s) =>
        (f.userName === undefined || s.userName.toLowerCase() === f.userName.toLowerCase()) &&
        (f.gatewayId === undefined || s.gatewayId === f.gatewayId) &&
        (f.sessionId === undefined || s.id === f.sessionId) &&
        (f.ended === undefined || (s.endedAt !== null) === f.ended),
    );
    return page(
      rows,
      (s) => ({ at: s.connectedAt, id: s.id }),
      args,
      () => rows.length,
    );
  }

  async onlineSession(actor: Actor, id: string): Promise<Session | null> {
    requireScope(actor, 'sessions:read');
    const s = this.sessions.get(id);
    return s && s.endedAt === null ? s : null;
  }

  async disconnect(actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult> {
    this.calls.disconnect.push({ sessionId, options });
    requireScope(actor, 'sessions:disconnect', MESSAGES.disconnectForbidden);
    const s = this.sessions.get(sessionId);
    if (!s || s.endedAt !== null) throw new DomainError('SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
    if (!this.gatewayConfirms)
      throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectUnconfirmed, {
        extensions: { disconnect: 'UNCONFIRMED' },
      });
    const ended: Session = {
      ...s,
      endedAt: this.now,
      endCause: 'ADMIN_DISCONNECT',
      endedByTokenId: actor.tokenId,
      endedByName: actor.name,
      endReason: options.reason ?? null,
    };
    this.sessions.set(sessionId, ended);
    const event: AuditEvent = {
      id: newAuditEventId(),
      at: this.now,
      action: 'session.disconnect',
      outcome: 'SUCCESS',
      actorTokenId: actor.tokenId,
      actorName: actor.name,
      actorIp: actor.ip,
      actorUserAgent: actor.userAgent,
      requestId: actor.requestId ?? null,
      targetSessionId: sessionId,
      targetUserName: s.userName,
      targetGatewayId: s.gatewayId,
      reason: options.reason ?? null,
      errorCode: null,
      durationMs: 12,
      metadata: { mode: options.mode ?? 'HALT', message: options.message ?? null },
    };
    this.audit.push(event);
    return { session: ended, outcome: 'DISCONNECTED', auditEventId: event.id };
  }

  async gateways(actor: Actor): Promise<GatewayView[]> {
    requireScope(actor, 'sessions:read');
    return [...this.gatewayRows.values()];
  }

  /** Blocks in force, as a test put them here. */
  readonly blockRows: Block[] = [];

  async blocks(actor: Actor, filter: BlockFilter = {}): Promise<Block[]> {
    requireScope(actor, 'sessions:read');
    return this.blockRows.filter(
      (b) =>
        (filter.gatewayId == null || b.gatewayId === filter.gatewayId) &&
        (filter.userName == null || b.userName === filter.userName),
    );
  }

  async liftBlock(actor: Actor, input: { gatewayId: string; userName: string }): Promise<Block> {
    requireScope(actor, 'sessions:disconnect');
    const i = this.blockRows.findIndex((b) => b.gatewayId === input.gatewayId && b.userName === input.userName);
    if (i < 0) throw new DomainError('BLOCK_NOT_FOUND', 'No block in force for that user on that gateway');
    return this.blockRows.splice(i, 1)[0]!;
  }

  async gateway(actor: Actor, id: string): Promise<GatewayView | null> {
    this.calls.gateway.push(id);
    requireScope(actor, 'sessions:read');
    return this.gatewayRows.get(id) ?? null;
  }

  async gatewayStatuses(actor: Actor, ids: readonly string[]): Promise<(GatewayStatus | null)[]> {
    this.calls.gateway.push(...ids);
    this.calls.gatewayBatches.push([...ids]);
    requireScope(actor, 'sessions:read');
    return ids.map((id) => {
      const g = this.gatewayRows.get(id);
      if (!g) return null;
      const { sessionsOnline: _count, ...status } = g;
      return status;
    });
  }

  async gatewaySessionsOnline(actor: Actor, id: string): Promise<number> {
    requireScope(actor, 'sessions:read');
    return this.gatewayRows.get(id)?.sessionsOnline ?? 0;
  }

  async auditEvents(
    actor: Actor,
    args: { first?: number | null; after?: string | null; filter?: AuditFilter },
  ): Promise<Connection<AuditEvent>> {
    this.calls.auditEvents.push(args);
    requireScope(actor, 'audit:read');
    const f = args.filter ?? {};
    const rows = this.audit.filter(
      (e) =>
        (f.action === undefined || e.action === f.action) &&
        (f.outcome === undefined || e.outcome === f.outcome) &&
        (f.targetSessionId === undefined || e.targetSessionId === f.targetSessionId) &&
        (f.since === undefined || e.at >= f.since) &&
        (f.until === undefined || e.at < f.until),
    );
    return page(
      rows,
      (e) => ({ at: e.at, id: e.id }),
      args,
      () => rows.length,
    );
  }

  async createToken(
    actor: Actor,
    args: { name: string; scopes: Scope[]; expiresInMs?: number | null },
  ): Promise<{ token: ApiToken; secret: string }> {
    requireScope(actor, 'admin');
    const secret = this.addToken(args.name, args.scopes, {
      expiresAt: args.expiresInMs ? this.now + args.expiresInMs : null,
    });
    return { token: this.tokens.get(secret)!, secret };
  }

  async listTokens(actor: Actor): Promise<ApiToken[]> {
    requireScope(actor, 'admin');
    return [...this.tokens.values()];
  }

  async revokeToken(actor: Actor, id: string): Promise<ApiToken> {
    requireScope(actor, 'admin');
    for (const [secret, t] of this.tokens) {
      if (t.id === id && t.revokedAt === null) {
        const revoked = { ...t, revokedAt: this.now };
        this.tokens.set(secret, revoked);
        return revoked;
      }
    }
    throw new DomainError('TOKEN_NOT_FOUND', 'No active token has this id');
  }

  /** Bulk disconnect is core's (tested there and end to end); the fake only checks the scope. */
  async disconnectSessions(actor: Actor, _input: BulkDisconnectInput): Promise<BulkDisconnectResult> {
    requireScope(actor, 'sessions:disconnect', MESSAGES.disconnectForbidden);
    return { matched: 0, ended: 0, alreadyGone: 0, failed: 0, errors: [], results: [] };
  }

  /** Live events are core's (tested end to end); the fake only checks the scope and never emits. */
  sessionEvents(actor: Actor, _filter: SessionEventFilter): AsyncIterableIterator<SessionEvent> {
    requireScope(actor, 'sessions:read');
    return (async function* () {})();
  }

  /** Webhooks are core's (tested end to end); the fake only checks the scope. */
  async createWebhook(actor: Actor): Promise<{ webhook: WebhookView; secret: string }> {
    requireScope(actor, 'admin');
    throw new DomainError('BAD_USER_INPUT', 'webhooks are not modelled by the fake core');
  }

  async webhooks(actor: Actor): Promise<WebhookView[]> {
    requireScope(actor, 'admin');
    return [];
  }

  async deleteWebhook(actor: Actor): Promise<WebhookView> {
    requireScope(actor, 'admin');
    throw new DomainError('WEBHOOK_NOT_FOUND', 'Webhook not found or already deleted');
  }

  async webhookDeliveries(actor: Actor): Promise<DeliveryView[]> {
    requireScope(actor, 'admin');
    return [];
  }

  async webhookBacklog(actor: Actor): Promise<WebhookBacklog[]> {
    requireScope(actor, 'sessions:read');
    return [];
  }
}
