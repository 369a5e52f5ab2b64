/**
 * Request ids. Every HTTP request (GraphQL, SSE stream, probe, console file) and every WebSocket
 * operation has one: taken from the client's `x-request-id` when it is sane, made otherwise. It is
 * echoed in the answer's `x-request-id`, bound to every log line of the request (a pino child
 * logger) and stored with the audit rows the request writes, so either can be found from the other.
 *
 * Sane: 1 to 128 characters of letters, digits and `-._:;=+/@` — a UUID, a ULID, a W3C trace id, a
 * load balancer's `Root=1-…` all fit; a header that could break a log line, carry a secret's worth
 * of text or fill the audit trail does not, and is replaced (never refused: a bad id is no reason to
 * fail the request). Several `x-request-id` headers are one invalid value (Node joins them with ", ").
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../domain/logger.js';
import { MAX_REQUEST_ID_CHARS } from '../domain/input-limits.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE = new RegExp(`^[A-Za-z0-9\\-._:;=+/@]{1,${MAX_REQUEST_ID_CHARS}}$`);

/** The client's id when it is sane, else `fallback` (default: a new UUID). */
export function requestIdOf(value: unknown, fallback?: string): string {
  return typeof value === 'string' && SANE.test(value) ? value : (fallback ?? randomUUID());
}

/** One request's id and the logger whose lines carry it. */
export interface RequestScope {
  requestId: string;
  logger: Logger;
}
