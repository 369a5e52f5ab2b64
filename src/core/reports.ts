/**
 * The wire contract: every message between agents and the control plane, as one zod schema each,
 * with the TypeScript types inferred from them. Both ends import this file and check what they
 * receive against it, so a message has one shape, one version and one set of bounds.
 *
 * Every message carries `version`. A receiver that does not speak a message's version refuses it
 * (see `readVersion`), so agents and replicas of different versions during a rolling upgrade fail
 * loudly instead of misreading each other. Change a shape incompatibly: raise WIRE_VERSION.
 *
 * Every string and array is bounded: an agent is a separate host, and nothing it sends may make a
 * replica hold or store an unbounded payload.
 */
import { z } from 'zod';
import { GATEWAY_ID_PATTERN } from '../domain/ids.js';
import { storable } from '../domain/text.js';
import { MAX_CLIENT_TEXT_CHARS, MAX_USER_NAME_CHARS } from '../domain/input-limits.js';
import { END_CAUSES, TRANSPORTS } from '../domain/session.js';
import { PROTOCOLS } from '../domain/gateway.js';
import { SESSION_EVENT_TYPES, TOKEN_REVOKED } from '../domain/event-types.js';

/** The version of the wire contract this build speaks (sends, and accepts). */
export const WIRE_VERSION = 1;
/** Sessions in one snapshot part; the agent sends larger snapshots in parts (see SnapshotPart). */
export const MAX_SNAPSHOT_PART_SESSIONS = 1_000;
/** Parts of one snapshot: 10 million sessions at most. */
const MAX_SNAPSHOT_PARTS = 10_000;

/**
 * A bounded string that every store keeps as it is: an agent is another process (or host), and a
 * U+0000 in one user name would fail PostgreSQL's whole snapshot transaction while SQLite stored it
 * (see domain/text.ts, `storable`). No daemon's name holds one; a message that does is not an agent's.
 */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine(storable, { message: 'must not contain U+0000 or a lone surrogate (no store keeps it as it is)' });
const optionalText = (max: number) => text(max).nullable();
/** A count of bytes: a non-negative integer JSON can carry exactly. */
const count = () => z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/**
 * The latest instant a JavaScript Date holds (ms since the epoch, year 275760). A time past it is no
 * instant: it cannot be written as the API's or a webhook's ISO-8601, so one such connectedAt failed
 * the transaction of every report that carried it (its webhook payload threw).
 */
export const MAX_INSTANT_MS = 8.64e15;
/** A time in ms since the epoch that a Date holds. */
const instant = () => z.number().int().nonnegative().max(MAX_INSTANT_MS);
const gatewayId = z.string().regex(GATEWAY_ID_PATTERN);
/** What a reload of an agent's gateway file did to one of its gateways. */
export const GATEWAY_RELOAD_CHANGES = ['added', 'removed', 'changed', 'refused'] as const;
export type GatewayReloadChange = (typeof GATEWAY_RELOAD_CHANGES)[number];

/** The longest common name (a certificate's subject, an IKE identity) a session report carries. */
export const MAX_COMMON_NAME_CHARS = 512;

/**
 * Why the wire contract cannot carry this session's identity, or null when it can. A daemon may pass
 * a name longer than the contract's bounds (an IKEv2 certificate subject or an EAP identity a client
 * made that long, an OpenVPN username in observe mode), and a report carrying one is refused whole.
 * Only the length is said, never the name. A cheap check: the agent runs it on every session it reports.
 */
export function unreportable(s: { userName: string; commonName: string | null }): string | null {
  if (s.userName.length > MAX_USER_NAME_CHARS)
    return `a user name of ${s.userName.length} characters (at most ${MAX_USER_NAME_CHARS})`;
  if (s.commonName !== null && s.commonName.length > MAX_COMMON_NAME_CHARS)
    return `a common name of ${s.commonName.length} characters (at most ${MAX_COMMON_NAME_CHARS})`;
  return null;
}

/** What an agent reports about one live tunnel (domain's SessionReport, bounded). */
export const sessionReportSchema = z.object({
  ref: text(128).min(1),
  userName: text(MAX_USER_NAME_CHARS),
  commonName: optionalText(MAX_COMMON_NAME_CHARS),
  clientAddress: optionalText(128),
  virtualAddress: optionalText(128),
  virtualAddress6: optionalText(128),
  connectedAt: instant(),
  bytesReceived: count(),
  bytesSent: count(),
  clientVersion: optionalText(MAX_CLIENT_TEXT_CHARS),
  clientPlatform: optionalText(MAX_CLIENT_TEXT_CHARS),
  /** Absent from older agents and from daemons without groups or a per-tunnel device. */
  group: optionalText(512).optional(),
  device: optionalText(64).optional(),
  /** Absent from older agents; null where the daemon does not say. */
  transport: z.enum(TRANSPORTS).nullable().optional(),
});

/** How an agent describes its gateway, so a control plane without the config file knows it too. */
export const gatewayDescriptorSchema = z.object({
  name: text(100).min(1),
  region: text(100).min(1),
  protocol: z.enum(PROTOCOLS),
  mode: z.enum(['observe', 'authorize']),
  /** Whether the agent can deny reconnects (`Gateway.canBlock`); absent from older agents (left as stored). */
  canBlock: z.boolean().optional(),
  /** A mismatch the agent found between the gateway's settings and its daemon. */
  warning: optionalText(1000).optional(),
});
export type GatewayDescriptor = z.infer<typeof gatewayDescriptorSchema>;

/**
 * A large snapshot travels as several `snapshot` reports, `count` parts of one `id`, sent in order
 * (a bus message has a size limit: NATS refuses more than 1 MB by default, about 4,000 sessions).
 * Only a snapshot whose every part arrived may end the sessions it does not list.
 */
export const snapshotPartSchema = z
  .object({
    id: text(64).min(1),
    index: z
      .number()
      .int()
      .nonnegative()
      .max(MAX_SNAPSHOT_PARTS - 1),
    count: z.number().int().min(1).max(MAX_SNAPSHOT_PARTS),
  })
  .refine((p) => p.index < p.count, 'index must be below count');
export type SnapshotPart = z.infer<typeof snapshotPartSchema>;

/**
 * What every report carries. `gatewayId` repeats what the subject says, and a receiver drops a report
 * whose body disagrees with its subject: the subject is what NATS permissions bind to an agent's
 * credentials, the body is whatever the agent wrote. `seq` increases per agent run; `at` strictly.
 */
const envelope = {
  gatewayId,
  agentId: text(64).min(1),
  seq: count(),
  at: instant(),
  /**
   * The deployment the agent was told it serves (SWITCHBOARD_DEPLOYMENT_ID): a replica of another
   * deployment drops the report. Absent when the agent was not told, and from older agents.
   */
  deploymentId: text(64).min(1).optional(),
};

/** Agent → control plane on `subjects.gatewayReport(id)`, without its `version`. */
export const gatewayReportSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('snapshot'),
    ...envelope,
    gateway: gatewayDescriptorSchema,
    daemonStartedAt: instant().nullable(),
    sessions: z.array(sessionReportSchema).max(MAX_SNAPSHOT_PART_SESSIONS),
    part: snapshotPartSchema.optional(),
  }),
  z.object({ type: z.literal('session.connected'), ...envelope, session: sessionReportSchema }),
  z.object({
    type: z.literal('session.disconnected'),
    ...envelope,
    ref: text(128).min(1),
    cause: z.enum(END_CAUSES),
    bytesReceived: count().optional(),
    bytesSent: count().optional(),
  }),
  /** `daemonResponding`: the daemon answered its liveness probe; absent (an agent without a probe) reads as true. */
  z.object({
    type: z.literal('heartbeat'),
    ...envelope,
    gateway: gatewayDescriptorSchema,
    linkUp: z.boolean(),
    daemonResponding: z.boolean().optional(),
  }),
  /**
   * The daemon's link is down. `stopped`: the agent's goodbye, sent once it let go of the link because
   * this agent run stops serving the gateway (a clean stop, a reload that removed or replaced it); no
   * report of this run follows on this subject. A replica applies a goodbye only if this run is the one
   * it last heard a heartbeat or snapshot from, so an old run's late goodbye does not mark a new run's
   * link down. Absent from older agents (they said nothing when they stopped); an older replica applies
   * a goodbye as a plain link-down.
   */
  z.object({ type: z.literal('link-down'), ...envelope, error: text(1000), stopped: z.literal(true).optional() }),
  /** A client was refused at authentication because its user is blocked; audited as `session.reconnect_blocked`. */
  z.object({
    type: z.literal('auth-denied'),
    ...envelope,
    userName: text(MAX_USER_NAME_CHARS),
    reason: text(1000),
    clientAddress: optionalText(128),
  }),
  /**
   * The agent reloaded its gateway file (SIGHUP) and this gateway was added, removed or changed, or
   * (`refused`) the file did not load and this gateway runs on as it was; audited as `gateway.reload`.
   * One report per gateway, on that gateway's own subject: a replica trusts no gateway id but the subject's.
   */
  z.object({
    type: z.literal('gateway.reload'),
    ...envelope,
    change: z.enum(GATEWAY_RELOAD_CHANGES),
    error: text(1000).optional(),
  }),
]);
export type GatewayReport = z.infer<typeof gatewayReportSchema>;

/** Control plane → agent on `subjects.gatewayDisconnect(id)`, without its `version`. */
export const disconnectRequestSchema = z.object({
  ref: text(128).min(1),
  userName: text(MAX_USER_NAME_CHARS),
  mode: z.enum(['HALT', 'RESTART']),
  message: optionalText(240),
  blockSeconds: z
    .number()
    .int()
    .min(1)
    .max(366 * 86_400)
    .nullable(),
  deadlineMs: z.number().int().min(1).max(600_000),
  /**
   * The deployment of the replica that asks (its store's id). An agent given SWITCHBOARD_DEPLOYMENT_ID
   * refuses a request from any other (NOT_SENT). Absent from older replicas; added without raising
   * WIRE_VERSION, as older agents leave out keys they do not know.
   */
  deploymentId: text(64).min(1).optional(),
});
export type DisconnectRequest = z.infer<typeof disconnectRequestSchema>;

/**
 * The agent's answer to a DisconnectRequest. `NOT_SENT`: the native command was certainly not handed
 * to the daemon (link down, daemon known not responding, refused before writing). `UNCONFIRMED`: it
 * was (or may have been) written and no confirmation came by the deadline: it may still take effect.
 */
export const disconnectReplySchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('ENDED') }),
  z.object({ outcome: z.literal('NOT_FOUND') }),
  z.object({ outcome: z.literal('NOT_SENT'), detail: text(1000) }),
  z.object({ outcome: z.literal('UNCONFIRMED'), detail: text(1000) }),
]);
export type DisconnectReply = z.infer<typeof disconnectReplySchema>;

/**
 * Kills in one DisconnectBatchRequest at most. Even at every field's bound (and JSON's escapes) a
 * batch and its reply stay under NATS's default 1 MB message limit.
 */
export const MAX_DISCONNECT_BATCH = 100;

/**
 * Control plane → agent on the same `subjects.gatewayDisconnect(id)`, without its `version`: the kills
 * of a bulk disconnect, many in one request, one deadline for all. Added in wire version 1 without
 * changing it: an agent that predates it refuses the request as one it cannot read (`NOT_SENT`, with
 * no daemon asked), and the control plane then sends those kills one request each.
 */
export const disconnectBatchRequestSchema = z.object({
  kills: z
    .array(disconnectRequestSchema.omit({ deadlineMs: true, deploymentId: true }))
    .min(1)
    .max(MAX_DISCONNECT_BATCH),
  deadlineMs: disconnectRequestSchema.shape.deadlineMs,
  deploymentId: disconnectRequestSchema.shape.deploymentId,
});
export type DisconnectBatchRequest = z.infer<typeof disconnectBatchRequestSchema>;

/** The agent's answer to a DisconnectBatchRequest: one DisconnectReply per kill, in the request's order. */
export const disconnectBatchReplySchema = z.object({
  replies: z.array(disconnectReplySchema).min(1).max(MAX_DISCONNECT_BATCH),
});
export type DisconnectBatchReply = z.infer<typeof disconnectBatchReplySchema>;

/**
 * Control plane → agent on `subjects.gatewayBlocks(id)`: every block in force on that gateway (the
 * store is the source of truth), sent after each first snapshot part the control plane hears from the
 * gateway (so an agent gets its blocks back after a restart; see core/blocks.ts for which replicas
 * send it) and after a block is lifted (`lifted`).
 */
export const blockListSchema = z.object({
  gatewayId,
  blocks: z.array(z.object({ userName: text(MAX_USER_NAME_CHARS), until: instant() })).max(100_000),
  lifted: z.array(text(MAX_USER_NAME_CHARS)).max(100).optional(),
});
export type BlockList = z.infer<typeof blockListSchema>;

/** Replica → every agent on `subjects.agentHello`: a replica started; send a fresh snapshot. */
export const replicaHelloSchema = z.object({ replicaId: text(64).min(1) });
export type ReplicaHello = z.infer<typeof replicaHelloSchema>;

/**
 * Replica → every replica on `subjects.deploymentAnnounce`, at start and periodically: which
 * deployment (its store's id) this replica belongs to. A replica that hears another deployment's id
 * on its own prefix refuses disconnects (see deployment-guard.ts).
 */
export const deploymentAnnounceSchema = z.object({
  deploymentId: text(64).min(1),
  replicaId: text(64).min(1),
});
export type DeploymentAnnounce = z.infer<typeof deploymentAnnounceSchema>;

/** Relay → every replica on `subjects.tokenRevoked`: a token was revoked; end its live streams. */
export const tokenRevokedSchema = z.object({
  id: text(64).min(1),
  type: z.literal(TOKEN_REVOKED),
  at: instant(),
  tokenId: text(64).min(1),
});
export type TokenRevoked = z.infer<typeof tokenRevokedSchema>;

/**
 * Relay → every replica on `subjects.sessionEvents`. Replicas are one deployment's trusted peers,
 * so the session keeps fields a newer build added (checked: the ones this build reads).
 */
export const sessionEventSchema = z.object({
  id: text(64).min(1),
  type: z.enum(SESSION_EVENT_TYPES),
  at: instant(),
  session: z.looseObject({
    ...sessionReportSchema.shape,
    id: text(64).min(1),
    gatewayId,
    userId: text(128),
    protocol: z.enum(PROTOCOLS),
    lastSeenAt: instant(),
    endedAt: instant().nullable(),
    endCause: z.enum(END_CAUSES).nullable(),
    endedByTokenId: optionalText(64),
    endedByName: optionalText(1000),
    endReason: optionalText(4000),
  }),
  cause: z.enum(END_CAUSES).nullable(),
  actor: z.object({ tokenId: optionalText(64), name: text(1000) }).nullable(),
  reason: optionalText(4000),
  message: optionalText(1000),
});

/** A message as it travels: its body and the version of the contract it was written in. */
export type Versioned<T> = T & { version: number };

/** Adds the version this build speaks. */
export function versioned<T extends object>(body: T): Versioned<T> {
  return { ...body, version: WIRE_VERSION };
}

/**
 * `versioned` for a message held as JSON text (an object's, as `JSON.stringify` writes it): the text of
 * the versioned message, `version` last as `versioned` puts it, written into the text without parsing it.
 */
export function versionedJson(json: string): string {
  const last = json.length - 1;
  // `{…}` with at least one member and nothing after it (a member's value ends in `"`, `}`, `]`, a digit or a letter).
  if (last > 1 && json.charCodeAt(0) === 123 && json.charCodeAt(last) === 125 && !/[{\s,]/.test(json[last - 1]!))
    return `${json.slice(0, last)},"version":${WIRE_VERSION}}`;
  return JSON.stringify(versioned(JSON.parse(json) as object));
}

/** A received message, checked: its body, or why it was refused. */
export type WireResult<T> =
  | { ok: true; value: T }
  | { ok: false; problem: 'unsupported-version'; version: unknown; detail: string }
  | { ok: false; problem: 'invalid'; detail: string };

/**
 * Checks a received message against its schema. A message without the version this build speaks is
 * refused as `unsupported-version` before its shape is looked at (a newer agent's fields may mean
 * something else); one of the right version that does not match the schema is `invalid`.
 */
export function readWire<S extends z.ZodType>(schema: S, data: unknown): WireResult<z.output<S>> {
  const version = typeof data === 'object' && data !== null ? (data as { version?: unknown }).version : undefined;
  if (version !== WIRE_VERSION) {
    return {
      ok: false,
      problem: 'unsupported-version',
      version: version ?? null,
      detail: `wire version ${describe(version)}, this build speaks ${WIRE_VERSION}`,
    };
  }
  // Every message's schema is an object that leaves out keys it does not name, `version` among them:
  // checked as it came, without a copy of it first.
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: withoutVersion(r.data) };
  const issue = r.error.issues[0];
  return {
    ok: false,
    problem: 'invalid',
    detail: issue ? `${issue.path.join('.') || '(message)'}: ${issue.message}` : 'invalid message',
  };
}

/** `value` without a `version` key (a schema that kept unknown keys would have kept it). */
function withoutVersion<T>(value: T): T {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'version')) return value;
  const { version: _v, ...body } = value as Record<string, unknown>;
  return body as T;
}

function describe(version: unknown): string {
  if (version === undefined || version === null) return 'missing';
  return typeof version === 'number' ? String(version) : JSON.stringify(version).slice(0, 32);
}
