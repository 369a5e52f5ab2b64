/**
 * The bus port: publish/subscribe and request/reply over named subjects. Implementations: in-process
 * (`memory/`) and NATS (`nats/`). May import `domain/` only. Payloads are plain JSON values.
 */
import { GATEWAY_ID_PATTERN } from '../domain/ids.js';

export type Unsubscribe = () => void;

export interface SubscribeOptions {
  /** Queue group: each message goes to exactly one subscriber of the group (load sharing). */
  queue?: string;
}

export interface RequestOptions {
  /** Deadline for the reply; the request rejects with `BusTimeoutError` after it. */
  timeoutMs: number;
}

/** The request got no reply in time, or nobody serves the subject. */
export class BusTimeoutError extends Error {
  readonly noResponders: boolean;
  constructor(subject: string, noResponders = false) {
    super(noResponders ? `no responder for ${subject}` : `request on ${subject} timed out`);
    this.name = 'BusTimeoutError';
    this.noResponders = noResponders;
  }
}

export interface Bus {
  readonly kind: 'memory' | 'nats';
  /** Whether messages can flow right now: false while a network bus reconnects, and after `close()`. */
  readonly connected: boolean;
  publish(subject: string, data: unknown): Promise<void>;
  /**
   * Publishes the value whose JSON text `json` is, as `publish(subject, JSON.parse(json))` would, for a
   * value that is held as text already (the event outbox's rows): NATS sends the text as it is, the
   * in-process bus parses it once when someone listens (the parsed value is already a copy of its own).
   */
  publishJson(subject: string, json: string): Promise<void>;
  /**
   * `subject` may end in `.>` (everything below) or contain `*` (one token), as in NATS. `handler`
   * reads `data` and never changes it: on NATS the subscribers of one subject share one decoded value.
   */
  subscribe(
    subject: string,
    handler: (data: unknown, subject: string) => void | Promise<void>,
    options?: SubscribeOptions,
  ): Unsubscribe;
  request(subject: string, data: unknown, options: RequestOptions): Promise<unknown>;
  /** Serves requests on `subject`; the handler's return value (or thrown error's message) is the reply. */
  serve(subject: string, handler: (data: unknown) => Promise<unknown>, options?: SubscribeOptions): Unsubscribe;
  /** Calls `listener` whenever `connected` changes (NATS: a disconnect, a reconnect, the final close). */
  onConnectedChange(listener: (connected: boolean) => void): Unsubscribe;
  /**
   * Resolves once everything published so far has reached the bus (NATS: the server answered a ping
   * sent after it); rejects when the bus is not connected or does not answer within `timeoutMs`.
   * What follows a resolved flush cannot be lost in this process's buffers.
   */
  flush(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** The deployment's subject prefix unless `SWITCHBOARD_NATS_PREFIX` says otherwise. */
export const DEFAULT_SUBJECT_PREFIX = 'switchboard';
/** A prefix is one NATS subject token: no dots, no wildcards, no spaces. */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Subject names: one place, so both ends agree. They are relative to the deployment's namespace:
 * the NATS bus puts its prefix in front of every subject it publishes, subscribes, serves or
 * requests (`switchboard.gateway.gw1.report` by default), so no bus user can forget it and two
 * deployments with different prefixes on one NATS never see each other's messages. Handlers get
 * the subject back without the prefix.
 */
export const subjects = {
  /** Agent → control plane: snapshots, deltas, heartbeats of one gateway. */
  gatewayReport: (gatewayId: string) => `gateway.${gatewayId}.report`,
  allGatewayReports: 'gateway.*.report',
  /** Control plane → agent: end one session (request/reply). */
  gatewayDisconnect: (gatewayId: string) => `gateway.${gatewayId}.disconnect`,
  /** Control plane → every agent: a replica started (or met a gateway it does not know); send a snapshot. */
  replicaHello: 'replica.hello',
  /** Replica → every replica: the deployment it belongs to (two deployments on one prefix must not pass unseen). */
  deploymentAnnounce: 'replica.deployment',
  /** Control plane → agent: the blocks it enforces (the whole list, see `blockListSchema`). */
  gatewayBlocks: (gatewayId: string) => `gateway.${gatewayId}.blocks`,
  /** Session events (`session.connected`, `session.disconnected`), published from the event outbox. */
  sessionEvents: 'events.session',
  /** Token revoked (from the event outbox): every replica drops what it cached and ends its streams. */
  tokenRevoked: 'events.token.revoked',
} as const;

/** The gateway id a report subject names (`gateway.<id>.report`), or null if it names none. */
export function reportSubjectGatewayId(subject: string): string | null {
  const t = subject.split('.');
  if (t.length !== 3 || t[0] !== 'gateway' || t[2] !== 'report') return null;
  const id = t[1]!;
  return GATEWAY_ID_PATTERN.test(id) ? id : null;
}

/** Does a NATS-style pattern match a concrete subject? */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
