import type { Generated, Kysely } from 'kysely';

/**
 * The tables as Kysely sees them. Columns are snake_case; every time is integer milliseconds since
 * the epoch (`bigint` on PostgreSQL, `integer` on SQLite; both come back as JS numbers). Booleans are
 * 0/1 integers and lists/objects are JSON text, so one code path serves both databases.
 */

export interface GatewayTable {
  id: string;
  name: string;
  region: string;
  protocol: string;
  mode: string;
  /** 1 while its agent holds the daemon's control connection. */
  agent_connected: number;
  last_seen_at: number | null;
  daemon_started_at: number | null;
  /** 1 when its agent last said it can deny reconnects. */
  can_block: Generated<number>;
  warning: string | null;
  /** 1 while the daemon answers its agent's liveness probe (as of the last heartbeat); defaults to 1. */
  daemon_responding: Generated<number>;
  /** When agent_connected or daemon_responding last changed (ms); null until a status is first set. */
  status_since: number | null;
  /** The last link problem reported for the gateway, and when it began (ms). */
  last_error: string | null;
  last_error_at: number | null;
  /** The last snapshot applied (`agentId:seq:at`), see claimSnapshot; null before the first. */
  last_snapshot: Generated<string | null>;
  /** When a control plane's gateway file reload removed it (ms); null while configured or reported. */
  removed_at: Generated<number | null>;
}

/** Users denied reconnects on a gateway until `until`; a row whose `until` has passed is not a block. */
export interface BlockTable {
  gateway_id: string;
  user_name: string;
  until: number;
  blocked_at: number;
  blocked_by_token_id: string | null;
  blocked_by_name: string;
  reason: string | null;
  /** The message the disconnect that set it sent the user. */
  message: string | null;
  session_id: string | null;
}

/** Online and ended sessions in one table: `ended_at` null means online, anything else is history. */
export interface SessionTable {
  id: string;
  gateway_id: string;
  ref: string;
  user_id: string;
  user_name: string;
  common_name: string | null;
  client_address: string | null;
  /** The IP part of `client_address`, kept apart so it can be filtered by index. */
  client_ip: string | null;
  virtual_address: string | null;
  virtual_address6: string | null;
  protocol: string;
  connected_at: number;
  last_seen_at: number;
  bytes_received: number;
  bytes_sent: number;
  client_version: string | null;
  client_platform: string | null;
  ended_at: number | null;
  end_cause: string | null;
  ended_by_token_id: string | null;
  ended_by_name: string | null;
  end_reason: string | null;
  /** The session's `group` (a reserved word in SQL, hence the column's name). */
  group_name: string | null;
  device: string | null;
  /** `UDP`, `TCP` or null (see the domain's Transport). */
  transport: string | null;
}

export interface ApiTokenTable {
  id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  /** JSON array of scope names. */
  scopes: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** Append-only: triggers in the database refuse UPDATE and DELETE. */
export interface AuditEventTable {
  id: string;
  at: number;
  action: string;
  outcome: string;
  actor_token_id: string | null;
  actor_name: string;
  actor_ip: string | null;
  actor_user_agent: string | null;
  /** Added later (nullable): rows from before it have none. */
  request_id: string | null;
  target_session_id: string | null;
  target_user_name: string | null;
  target_gateway_id: string | null;
  reason: string | null;
  error_code: string | null;
  duration_ms: number | null;
  /** JSON object. */
  metadata: string;
}

export interface WebhookTable {
  id: string;
  url: string;
  /** JSON array of event types. */
  events: string;
  description: string | null;
  /** The signing key (HMAC-SHA256); it must be readable to sign, so it is not hashed. */
  secret: string;
  created_at: number;
  created_by_name: string;
  deleted_at: number | null;
}

export interface WebhookDeliveryTable {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  /** A dispatcher holds the row until then (a lease), so replicas never POST it twice at once. */
  claimed_until: number | null;
  delivered_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
}

export interface WebhookAttemptTable {
  id: string;
  delivery_id: string;
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** The event outbox (see the migration 202612060700-event-outbox). */
export interface EventOutboxTable {
  seq: Generated<number>;
  id: string;
  type: string;
  at: number;
  /** JSON text, published as it is. */
  payload: string;
  created_at: number;
  /** A relay holds the row until then (a lease), so two relays rarely publish it twice. */
  claimed_until: number | null;
  published_at: number | null;
}

/**
 * Online sessions per gateway, kept by triggers on `sessions`; a gateway's count is the sum of its
 * shards (up to 16 on PostgreSQL, so concurrent writers need not wait for each other; shard 0
 * only on SQLite).
 */
export interface SessionOnlineCountTable {
  gateway_id: string;
  shard: number;
  n: number;
}

/** Disconnect intents (see domain/disconnect-intent.ts); not audit rows, so they are settled in place. */
export interface DisconnectIntentTable {
  id: string;
  session_id: string;
  gateway_id: string;
  user_name: string;
  created_at: number;
  actor_token_id: string | null;
  actor_name: string;
  actor_ip: string | null;
  actor_user_agent: string | null;
  actor_request_id: string | null;
  reason: string | null;
  message: string | null;
  mode: string;
  block_seconds: number | null;
  status: string;
  unconfirmed_at: number | null;
  settled_at: number | null;
  audit_event_id: string;
  settled_audit_event_id: string | null;
}

/** One row: the deployment's id, shared by its replicas (migration 202612080130-deployment-id). */
export interface DeploymentTable {
  id: string;
  created_at: number;
}

export interface Database {
  gateways: GatewayTable;
  sessions: SessionTable;
  session_online_counts: SessionOnlineCountTable;
  api_tokens: ApiTokenTable;
  audit_events: AuditEventTable;
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  blocks: BlockTable;
  event_outbox: EventOutboxTable;
  disconnect_intents: DisconnectIntentTable;
  deployment: DeploymentTable;
}

/** Which database a store talks to; the few places where SQL differs branch on this. */
export type DialectName = 'sqlite' | 'postgres';

/**
 * What a migration gets: the database untyped, because a migration describes the schema as it was
 * when the migration was written, not the `Database` of today (Kysely's own advice).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type MigrationDb = Kysely<any>;
