/** Builders for contract tests: every id is fresh, so tests sharing one database never collide. */
import type { AuditEvent } from '../../domain/audit.js';
import { newIntentId, type DisconnectIntent } from '../../domain/disconnect-intent.js';
import type { Gateway } from '../../domain/gateway.js';
import { newAuditEventId, newId, newSessionId, newTokenId, randomId, userIdFor } from '../../domain/ids.js';
import type { Session } from '../../domain/session.js';
import type { ApiToken } from '../../domain/token.js';
import type { Webhook } from '../../domain/webhook.js';
import type { Store } from '../store.js';
import type { MigrationDb } from '../kysely/database.js';
import { KyselyStore } from '../kysely/kysely-store.js';

/** A fixed, realistic epoch in ms (2026-01-01), far from 2^31 so 32-bit truncation would show. */
export const T0 = 1_767_225_600_000;

/** What every contract section gets: the shared store (opened before the first test) and `open`. */
export interface ContractContext {
  store(): Store;
  open(): Promise<Store>;
  /**
   * How the database refuses an UPDATE or DELETE of an audit event: by the append-only trigger
   * (default), or by missing privileges when the store runs as the PostgreSQL runtime role.
   */
  auditRefusal?: RegExp;
  /**
   * The database as the schema's owner, for tests that edit the migration bookkeeping, which the
   * PostgreSQL runtime role may only read. Default: the store's own connection.
   */
  ownerDb?: () => Promise<MigrationDb>;
}

export function makeGateway(
  overrides: Partial<Gateway> = {},
): Pick<Gateway, 'id' | 'name' | 'region' | 'protocol' | 'mode'> {
  const id = overrides.id ?? `gw-${randomId(8)}`;
  return {
    id,
    name: overrides.name ?? `Gateway ${id}`,
    region: overrides.region ?? 'eu-west',
    protocol: 'openvpn',
    mode: overrides.mode ?? 'observe',
  };
}

/** Upserts a fresh gateway and returns its id. */
export async function freshGateway(store: Store): Promise<string> {
  const gateway = makeGateway();
  await store.gateways.upsert(gateway);
  return gateway.id;
}

export function makeSession(gatewayId: string, overrides: Partial<Session> = {}): Session {
  const userName = overrides.userName ?? `user-${randomId(6)}`;
  const connectedAt = overrides.connectedAt ?? T0;
  return {
    id: newSessionId(),
    gatewayId,
    ref: `${T0}:${randomId(10)}`,
    userId: userIdFor(userName),
    userName,
    commonName: userName,
    clientAddress: '203.0.113.7:51820',
    virtualAddress: '10.8.0.6',
    virtualAddress6: null,
    protocol: 'openvpn',
    connectedAt,
    lastSeenAt: connectedAt,
    bytesReceived: 0,
    bytesSent: 0,
    clientVersion: '2.6.12',
    clientPlatform: 'linux',
    endedAt: null,
    endCause: null,
    endedByTokenId: null,
    endedByName: null,
    endReason: null,
    group: null,
    device: null,
    transport: null,
    ...overrides,
  };
}

export function makeToken(overrides: Partial<ApiToken> = {}): ApiToken {
  return {
    id: newTokenId(),
    name: `token-${randomId(6)}`,
    prefix: newId('tokenSecret'),
    secretHash: randomId(64),
    scopes: ['sessions:read'],
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    ...overrides,
  };
}

/** A PENDING disconnect intent (of a session that need not exist: the table has no foreign key to it). */
export function makeIntent(overrides: Partial<DisconnectIntent> = {}): DisconnectIntent {
  return {
    id: newIntentId(),
    sessionId: newSessionId(),
    gatewayId: 'gw-intent',
    userName: 'alice',
    createdAt: T0,
    actorTokenId: 'tok_abcdefghijkl',
    actorName: 'ops',
    actorIp: '203.0.113.9',
    actorUserAgent: 'curl/8',
    actorRequestId: 'req-intent-1',
    reason: 'incident 7',
    message: 'bye',
    mode: 'HALT',
    blockSeconds: 60,
    status: 'PENDING',
    unconfirmedAt: null,
    settledAt: null,
    auditEventId: newAuditEventId(),
    settledAuditEventId: null,
    ...overrides,
  };
}

export function makeAudit(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: newAuditEventId(),
    at: T0,
    action: 'session.disconnect',
    outcome: 'SUCCESS',
    actorTokenId: null,
    actorName: 'ops',
    actorIp: '198.51.100.4',
    actorUserAgent: 'curl/8.5.0',
    requestId: 'req-7f3a9c',
    targetSessionId: null,
    targetUserName: null,
    targetGatewayId: null,
    reason: null,
    errorCode: null,
    durationMs: 12,
    metadata: { mode: 'HALT' },
    ...overrides,
  };
}

/** Newest first, as the store orders lists: time desc, then id desc. */
export function newestFirst<T>(rows: T[], at: (row: T) => number, id: (row: T) => string): T[] {
  return [...rows].sort((a, b) => at(b) - at(a) || (id(a) < id(b) ? 1 : id(a) > id(b) ? -1 : 0));
}

export function ids(rows: { id: string }[]): string[] {
  return rows.map((r) => r.id);
}

export function makeWebhook(overrides: Partial<Webhook> = {}): Webhook {
  return {
    id: newId('webhook'),
    url: 'https://hooks.example.com/in',
    events: ['session.connected', 'session.disconnected'],
    description: 'ops',
    secret: newId('webhookSecret'),
    createdAt: T0,
    createdByName: 'ops',
    deletedAt: null,
    ...overrides,
  };
}

/** The store as the Kysely implementation, for the checks that look under the port (SQL of its own). */
export function kysely(store: Store): KyselyStore {
  if (!(store instanceof KyselyStore)) throw new Error('not a KyselyStore');
  return store;
}
