import type { Actor } from '../domain/actor.js';
import type { AuditAction, AuditEvent, AuditOutcome } from '../domain/audit.js';
import { newAuditEventId } from '../domain/ids.js';
import { madeStorable } from '../domain/text.js';

/**
 * The most a whole audit row takes, in UTF-8 bytes: every text column plus the metadata's JSON. The
 * trail is append-only, so whatever a request copies into it stays forever; a refused request must
 * not be able to write more than this (280 refused bulk disconnects with a huge filter once grew the
 * database by 832 MB, and a page of 50 events weighed 104 MB).
 */
export const MAX_AUDIT_ROW_BYTES = 16 * 1024;

/**
 * Per column, in UTF-8 bytes. Each is at least three bytes per character of what the API accepts
 * there (ids 64, user names 256, reasons 1 000, token names 100), so a value that passed the input
 * gate is kept whole; only callers that skip it (the CLI, a refused attempt audited before its input
 * is checked) can be cut. The sum, with the metadata's bound and the fixed columns, stays under
 * MAX_AUDIT_ROW_BYTES.
 */
const COLUMN_BYTES = {
  actorTokenId: 192,
  actorName: 400,
  actorIp: 128,
  actorUserAgent: 512,
  requestId: 192,
  targetSessionId: 192,
  targetUserName: 768,
  targetGatewayId: 192,
  reason: 3000,
  errorCode: 64,
} as const;
/** The metadata's JSON, in UTF-8 bytes; past it, only its keys are kept. */
export const MAX_AUDIT_METADATA_BYTES = 8 * 1024;
/** One string inside the metadata (a webhook URL is at most 2 000 characters). */
const METADATA_STRING_BYTES = 2048;
/** Items of an array or keys of an object inside the metadata; nesting below this depth is dropped. */
const METADATA_ITEMS = 32;
const METADATA_DEPTH = 4;
const ELLIPSIS = '…';

/** Builds an AuditEvent from an actor and what happened; the caller appends it in its transaction. */
export function auditEvent(
  actor: Actor,
  action: AuditAction,
  outcome: AuditOutcome,
  detail: Partial<
    Pick<
      AuditEvent,
      'targetSessionId' | 'targetUserName' | 'targetGatewayId' | 'reason' | 'errorCode' | 'durationMs' | 'metadata'
    >
  > & { at: number },
): AuditEvent {
  return {
    id: newAuditEventId(),
    at: detail.at,
    action,
    outcome,
    actorTokenId: bounded(actor.tokenId, COLUMN_BYTES.actorTokenId),
    actorName: bounded(actor.name, COLUMN_BYTES.actorName) ?? '',
    actorIp: bounded(actor.ip, COLUMN_BYTES.actorIp),
    actorUserAgent: bounded(actor.userAgent, COLUMN_BYTES.actorUserAgent),
    requestId: bounded(actor.requestId, COLUMN_BYTES.requestId),
    targetSessionId: bounded(detail.targetSessionId, COLUMN_BYTES.targetSessionId),
    targetUserName: bounded(detail.targetUserName, COLUMN_BYTES.targetUserName),
    targetGatewayId: bounded(detail.targetGatewayId, COLUMN_BYTES.targetGatewayId),
    reason: bounded(detail.reason, COLUMN_BYTES.reason),
    errorCode: bounded(detail.errorCode, COLUMN_BYTES.errorCode),
    durationMs: detail.durationMs ?? null,
    metadata: boundedMetadata(detail.metadata ?? {}),
  };
}

/**
 * An audit row's columns, in the order the store inserts them (the same-work benchmark binds its
 * hand-written insert in this order): `at` and `durationMs` are numbers, `metadata` is stored as its
 * JSON, every other column is text.
 */
export const AUDIT_COLUMNS = [
  'id',
  'at',
  'action',
  'outcome',
  'actorTokenId',
  'actorName',
  'actorIp',
  'actorUserAgent',
  'requestId',
  'targetSessionId',
  'targetUserName',
  'targetGatewayId',
  'reason',
  'errorCode',
  'durationMs',
  'metadata',
] as const satisfies readonly (keyof AuditEvent)[];

/** The row's values as stored, in `AUDIT_COLUMNS` order. */
export function auditRowValues(e: AuditEvent): (string | number | null)[] {
  return AUDIT_COLUMNS.map((column) => (column === 'metadata' ? JSON.stringify(e.metadata) : e[column]));
}

/** The UTF-8 size of an audit row as stored: its text columns and its metadata's JSON. */
export function auditRowBytes(e: AuditEvent): number {
  let bytes = 64; // at, durationMs and the row's own overhead
  for (const value of auditRowValues(e)) if (typeof value === 'string') bytes += Buffer.byteLength(value);
  return bytes;
}

/** `text` made storable and cut to `maxBytes` of UTF-8 at a character boundary, with `…` when cut. */
export function bounded(text: string | null | undefined, maxBytes: number): string | null {
  if (text === null || text === undefined) return null;
  // Every UTF-16 unit is at most 3 bytes of UTF-8: short texts need no measuring.
  const head = text.length > maxBytes ? text.slice(0, maxBytes) : text;
  const clean = madeStorable(head);
  if (head === text && (clean.length * 3 <= maxBytes || Buffer.byteLength(clean) <= maxBytes)) return clean;
  const room = maxBytes - Buffer.byteLength(ELLIPSIS);
  let bytes = 0;
  let end = 0;
  for (const char of clean) {
    const size = Buffer.byteLength(char);
    if (bytes + size > room) break;
    bytes += size;
    end += char.length;
  }
  return clean.slice(0, end) + ELLIPSIS;
}

/**
 * Metadata as stored: strings bounded, arrays and objects cut to their first items, nesting cut
 * below a few levels; if its JSON is still too big, only its (bounded) keys are kept.
 */
export function boundedMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
  const value = boundedValue(metadata, 0) as Record<string, unknown>;
  if (Buffer.byteLength(JSON.stringify(value)) <= MAX_AUDIT_METADATA_BYTES) return value;
  return { truncated: true, keys: Object.keys(value).slice(0, METADATA_ITEMS) };
}

function boundedValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return bounded(value, METADATA_STRING_BYTES);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return null; // undefined, functions, symbols: nothing to keep
  if (depth >= METADATA_DEPTH) return ELLIPSIS;
  if (Array.isArray(value)) {
    const items = value.slice(0, METADATA_ITEMS).map((v) => boundedValue(v, depth + 1));
    if (value.length > METADATA_ITEMS) items.push(`${ELLIPSIS} ${value.length - METADATA_ITEMS} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (n++ === METADATA_ITEMS) {
      out[ELLIPSIS] = 'more keys';
      break;
    }
    out[bounded(key, 64)!] = boundedValue(v, depth + 1);
  }
  return out;
}
