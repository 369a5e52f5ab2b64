/** The GraphQL documents the console sends, and the shapes it reads back. All are public API (README "API"). */

export interface Viewer {
  tokenId: string | null;
  name: string;
  scopes: string[];
}

export interface GatewayRow {
  id: string;
  name: string;
  region: string;
  protocol: string;
  mode: string;
  agentConnected: boolean;
  daemonResponding: boolean;
  lastSeenAt: string | null;
  /** Since when agentConnected and daemonResponding have held. */
  statusSince: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  sessionsOnline: number;
  degradedReason: string | null;
  warning: string | null;
}

export interface SessionRow {
  id: string;
  user: { id: string; name: string };
  gateway: {
    id: string;
    name: string;
    region: string;
    protocol: string;
    mode: string;
    agentConnected: boolean;
    daemonResponding: boolean;
  } | null;
  protocol: string;
  /** UDP or TCP between client and gateway; null where the gateway does not say. */
  transport: 'UDP' | 'TCP' | null;
  /** A WireGuard peer's public key; null on other protocols. */
  publicKey: string | null;
  clientAddress: string | null;
  virtualAddress: string | null;
  virtualAddress6: string | null;
  connectedAt: string;
  bytesReceived: number;
  bytesSent: number;
  lastSeenAt: string;
  confirmed: boolean;
  client: { version: string | null; platform: string | null };
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface SessionFilter {
  /** Exact (a user's sessions, for the per-user disconnect). */
  userName?: string;
  /** Part of the name, any case: what the User box sends. */
  userNameContains?: string;
  /** Client ip:port, its IP, or a virtual address, exactly as shown. */
  address?: string;
  gatewayId?: string;
  protocol?: string;
}

export interface AuditRow {
  id: string;
  at: string;
  action: string;
  outcome: string;
  actor: { tokenId: string | null; name: string; ip: string | null; userAgent: string | null };
  target: { sessionId: string | null; userName: string | null; gatewayId: string | null };
  reason: string | null;
  errorCode: string | null;
  durationMs: number | null;
  requestId: string | null;
  metadata: string;
}

export interface AuditFilter {
  action?: string;
  outcome?: string;
  actorTokenId?: string;
  targetUserName?: string;
  targetSessionId?: string;
  targetGatewayId?: string;
  since?: string;
  until?: string;
}

export const VIEWER = 'query Viewer { viewer { tokenId name scopes } }';

export const GATEWAYS = `query Gateways { gateways { id name region protocol mode agentConnected daemonResponding lastSeenAt sessionsOnline
  statusSince lastError lastErrorAt degradedReason warning } }`;

const SESSION_FIELDS = `id user { id name } gateway { id name region protocol mode agentConnected daemonResponding } protocol
  transport publicKey clientAddress virtualAddress virtualAddress6 connectedAt bytesReceived bytesSent lastSeenAt confirmed
  client { version platform }`;

export const ONLINE_SESSIONS = `query OnlineSessions($first: Int!, $after: String, $filter: OnlineSessionFilter, $orderBy: SessionOrder) {
  onlineSessions(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ${SESSION_FIELDS} } }
  }
}`;

export const ONLINE_SESSION = `query OnlineSession($id: String!) { onlineSession(id: $id) { ${SESSION_FIELDS} } }`;

export const DISCONNECT_SESSION = `mutation DisconnectSession($input: DisconnectSessionInput!) {
  disconnectSession(input: $input) { outcome auditEventId session { id endedAt } }
}`;

export const DISCONNECT_SESSIONS = `mutation DisconnectSessions($input: DisconnectSessionsInput!) {
  disconnectSessions(input: $input) { matched ended alreadyGone failed results { sessionId outcome code } }
}`;

/** One session's outcome in a bulk disconnect (the schema's BulkDisconnectOutcome). */
export type BulkDisconnectOutcome = 'ENDED' | 'ALREADY_GONE' | 'NOT_SENT' | 'UNCONFIRMED' | 'FAILED';
export interface BulkResult {
  matched: number;
  ended: number;
  alreadyGone: number;
  failed: number;
  results: { sessionId: string; outcome: BulkDisconnectOutcome; code: string | null }[];
}

export const AUDIT_EVENTS = `query AuditEvents($first: Int!, $after: String, $filter: AuditEventFilter) {
  auditEvents(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id at action outcome actor { tokenId name ip userAgent } target { sessionId userName gatewayId }
      reason errorCode durationMs requestId metadata } }
  }
}`;

/** What a DisconnectSession input carries (see the schema's DisconnectSessionInput). */
export interface DisconnectChoice {
  reason: string;
  message: string;
  mode: 'HALT' | 'RESTART';
  blockSeconds: number | null;
}

export interface TokenRow {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

const TOKEN_FIELDS = 'id name prefix scopes createdAt expiresAt revokedAt lastUsedAt';
export const TOKENS = `query Tokens { tokens { ${TOKEN_FIELDS} } }`;
export const CREATE_TOKEN = `mutation CreateToken($input: CreateTokenInput!) { createToken(input: $input) { secret token { ${TOKEN_FIELDS} } } }`;
export const REVOKE_TOKEN = `mutation RevokeToken($id: String!) { revokeToken(id: $id) { ${TOKEN_FIELDS} } }`;
