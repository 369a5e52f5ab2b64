import { randomBytes, createHash } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Random bytes drawn 4 KiB at a time: one CSPRNG call per id was 7% of the CPU of a 10k-session
 * reconnect storm (the same pooling Node does for `randomUUID`). Each byte is used once.
 */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomByte(): number {
  if (poolOffset >= pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** n random characters of [a-z0-9]; rejection sampling keeps the distribution uniform. */
export function randomId(n: number): string {
  let out = '';
  while (out.length < n) {
    const byte = randomByte();
    if (byte < 252) out += ALPHABET[byte % 36];
  }
  return out;
}

/**
 * Every id prefix Switchboard makes, in one list: what it names, its prefix and how many random
 * [a-z0-9] characters follow. A prefix says what an id is in a log line or a support ticket.
 */
export const ID_KINDS = {
  /** Public session id (the seed's shape). Opaque, never reused. */
  session: { prefix: 'sess_', length: 12 },
  token: { prefix: 'tok_', length: 12 },
  /** The secret of a token: `sbt_<8>_<40>` (see TOKEN_SECRET_PATTERN); never stored, never logged. */
  tokenSecret: { prefix: 'sbt_', length: 8 },
  /** A user's id is a hash of the account name (userIdFor), not random. */
  user: { prefix: 'usr_', length: 12 },
  auditEvent: { prefix: 'aud_', length: 16 },
  disconnectIntent: { prefix: 'din_', length: 16 },
  /** A SessionEvent or another event written to the outbox. */
  event: { prefix: 'evt_', length: 16 },
  webhook: { prefix: 'whk_', length: 12 },
  /** A webhook's HMAC signing key. */
  webhookSecret: { prefix: 'whsec_', length: 40 },
  webhookDelivery: { prefix: 'whd_', length: 16 },
  webhookAttempt: { prefix: 'wha_', length: 16 },
  /** One run of an agent (a new one on every start). */
  agent: { prefix: 'agt_', length: 12 },
  /** The parts of one snapshot sent in several. */
  snapshot: { prefix: 'snp_', length: 12 },
  /** One control-plane replica's run. */
  replica: { prefix: 'rep_', length: 12 },
  /** One deployment: made once in its store, shared by all its replicas (see core/deployment-guard.ts). */
  deployment: { prefix: 'dep_', length: 16 },
} as const satisfies Record<string, { prefix: string; length: number }>;
export type IdKind = keyof typeof ID_KINDS;

/** A new random id of `kind`: its prefix and its number of random characters. */
export function newId(kind: IdKind): string {
  const { prefix, length } = ID_KINDS[kind];
  return `${prefix}${randomId(length)}`;
}

/** Characters of the time prefix of `newOrderedId`: base-36 milliseconds, 8 digits until the year 2059. */
const TIME_CHARS = 8;
const TIME_MODULUS = 36 ** TIME_CHARS;

/**
 * A new id of `kind` whose first characters grow with time (base-36 milliseconds since 1970, modulo
 * 36^8, so they wrap in 2059) and whose other ones are random: the same shape as `newId`, and
 * as unlikely to repeat among ids of one millisecond (16 characters of kind `event`: 8 random ones,
 * 36^8 values a millisecond). For ids that key a b-tree written in bulk: new ids land at its end,
 * in a few pages, not one random page each (the event outbox's id index took a dirty page per event).
 * Not for ids whose guessing must be hard (the time prefix is known).
 */
export function newOrderedId(kind: IdKind, now = Date.now()): string {
  const { prefix, length } = ID_KINDS[kind];
  const time = (now % TIME_MODULUS).toString(36).padStart(TIME_CHARS, '0');
  return `${prefix}${time}${randomId(length - TIME_CHARS)}`;
}

/** An id of `kind` whose characters are given (derived from something else, not random). */
export function idOf(kind: IdKind, characters: string): string {
  return `${ID_KINDS[kind].prefix}${characters}`;
}

export const SESSION_ID_PATTERN = new RegExp(`^${ID_KINDS.session.prefix}[a-z0-9]{${ID_KINDS.session.length}}$`);
export function newSessionId(): string {
  return newId('session');
}
export function isSessionId(value: string): boolean {
  return SESSION_ID_PATTERN.test(value);
}

export function newTokenId(): string {
  return newId('token');
}

/**
 * Ordered (`newOrderedId`): a disconnect writes two audit rows, a bulk thousands in one statement;
 * random ids took a dirty page of the primary key index per row.
 */
export function newAuditEventId(): string {
  return newOrderedId('auditEvent');
}

/**
 * Ordered (`newOrderedId`): every ended session writes one delivery per subscribed webhook, a bulk
 * thousands in a few transactions; random ids took a dirty page of the primary key index per row
 * (with two webhooks, 7.7 write-ahead-log pages per disconnected session against 4.8 ordered).
 */
export function newWebhookDeliveryId(): string {
  return newOrderedId('webhookDelivery');
}

/** A token's secret: `sbt_<8 chars>_<40 chars>`; its first 12 characters are the display prefix. */
export const TOKEN_SECRET_PATTERN = new RegExp(
  `^${ID_KINDS.tokenSecret.prefix}[a-z0-9]{${ID_KINDS.tokenSecret.length}}_[a-z0-9]{40}$`,
);
export function newTokenSecret(): string {
  return `${newId('tokenSecret')}_${randomId(40)}`;
}

/** Gateway ids are operator-chosen slugs (or `gw_…`): lower-case letters, digits, `-` and `_`. */
export const GATEWAY_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A user's id is derived from the VPN account name, so it is stable without a users table. */
export function userIdFor(userName: string): string {
  return idOf('user', createHash('sha256').update(userName).digest('hex').slice(0, ID_KINDS.user.length));
}
