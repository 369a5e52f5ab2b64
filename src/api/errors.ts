/**
 * The one place where errors become what clients see: DomainError code → `extensions.code` and HTTP
 * status; anything unexpected is masked as INTERNAL (and logged in full, for operators).
 */
import { STATUS_CODES } from 'node:http';
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { Response as HandlerResponse } from 'graphql-http';
import type { Logger } from '../domain/logger.js';
import { isDomainError, type ErrorCode } from '../domain/errors.js';
import type { ResponseMediaType } from './context.js';

/** Domain codes plus the ones only the HTTP/GraphQL layer produces. */
export type ApiErrorCode =
  | ErrorCode
  | 'QUERY_TOO_COMPLEX'
  | 'PAYLOAD_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'GRAPHQL_PARSE_FAILED'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'TOO_MANY_STREAMS'
  | 'TOO_MANY_CONNECTIONS'
  /** node:http refused the request before it was read: request line and headers over 16 KiB. */
  | 'HEADERS_TOO_LARGE'
  /** node:http refused the request before it was read: it did not arrive in time. */
  | 'REQUEST_TIMEOUT'
  /** The server is shutting down: reconnect (to another replica). */
  | 'SHUTTING_DOWN';

export const STATUS_BY_CODE: Readonly<Record<ApiErrorCode, number>> = {
  SESSION_NOT_FOUND: 400,
  BAD_USER_INPUT: 400,
  BAD_CURSOR: 400,
  TOKEN_NOT_FOUND: 400,
  WEBHOOK_NOT_FOUND: 400,
  LAST_ADMIN_TOKEN: 409,
  BLOCK_UNSUPPORTED: 400,
  BLOCK_NOT_FOUND: 400,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  GATEWAY_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  BUS_UNAVAILABLE: 503,
  DEPLOYMENT_CONFLICT: 503,
  INTERNAL: 500,
  QUERY_TOO_COMPLEX: 400,
  PAYLOAD_TOO_LARGE: 413,
  BAD_REQUEST: 400,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  TOO_MANY_SUBSCRIPTIONS: 429,
  TOO_MANY_STREAMS: 429,
  TOO_MANY_CONNECTIONS: 503,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  SHUTTING_DOWN: 503,
};

/**
 * Request errors whose code decides the status even under `application/json` (where GraphQL over
 * HTTP otherwise wants 200 for documents that fail to parse or validate): the request was refused
 * as a whole for this one reason.
 */
const REFUSAL_CODES: ReadonlySet<string> = new Set<ApiErrorCode>(['QUERY_TOO_COMPLEX']);

export const INTERNAL_MESSAGE = 'Internal server error';

/** A body that is not JSON, in graphql-http's own words on /graphql: /graphql/stream says the same. */
export const UNPARSABLE_BODY = 'Unparsable JSON body';

/** What every transport answers a batch (a JSON array of operations) with, code BAD_REQUEST. */
export const BATCH_REFUSAL = 'Batched requests (a JSON array) are not supported; send one operation per request';

export function statusOf(code: ApiErrorCode): number {
  return STATUS_BY_CODE[code];
}

const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';

/** `{"errors":[{"message":…,"extensions":{"code":…}}]}` for answers given outside GraphQL execution. */
export function errorBody(code: ApiErrorCode, message: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/** A graphql-http response tuple with a JSON error body. */
export function errorResponse(code: ApiErrorCode, message: string, headers?: Record<string, string>): HandlerResponse {
  const status = statusOf(code);
  return [
    errorBody(code, message),
    { status, statusText: STATUS_CODES[status] ?? '', headers: { 'content-type': JSON_TYPE, ...headers } },
  ];
}

function codeOf(error: { extensions?: Readonly<Record<string, unknown>> | undefined }): string | undefined {
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Nothing of the operation succeeded: `data` is null, or every root field is null because of an
 * error at that field (a nullable field such as `onlineSession` refused for lack of scope).
 */
function failedAsWhole(result: ExecutionResult): boolean {
  if (result.data === null) return true;
  if (result.data === undefined) return false;
  const failed = new Set((result.errors ?? []).map((e) => e.path?.[0]));
  return Object.entries(result.data).every(([key, value]) => value === null && failed.has(key));
}

/** The status shared by every error when they all carry the same known code, else undefined. */
function sharedStatus(
  errors: readonly { extensions?: Readonly<Record<string, unknown>> | undefined }[],
): number | undefined {
  const first = errors[0] === undefined ? undefined : codeOf(errors[0]);
  if (first === undefined || !Object.hasOwn(STATUS_BY_CODE, first)) return undefined;
  for (let i = 1; i < errors.length; i++) if (codeOf(errors[i]!) !== first) return undefined;
  return STATUS_BY_CODE[first as ApiErrorCode];
}

function respond(
  body: string,
  status: number,
  mediaType: ResponseMediaType,
  headers?: Record<string, string>,
): HandlerResponse {
  const contentType = mediaType === 'application/json' ? JSON_TYPE : GRAPHQL_RESPONSE_TYPE;
  return [
    body,
    { status, statusText: STATUS_CODES[status] ?? '', headers: { 'content-type': contentType, ...headers } },
  ];
}

/**
 * Errors found before execution (parse, validation, limits, no such operation). GraphQL over HTTP:
 * 200 under `application/json`, 400 under `application/graphql-response+json`, no `data` entry;
 * a refusal code (QUERY_TOO_COMPLEX) among them gives its status under both: the whole request was
 * refused for it, whatever else is wrong with the document.
 */
export function requestErrorResponse(errors: readonly GraphQLError[], mediaType: ResponseMediaType): HandlerResponse {
  const refusal = errors.map(codeOf).find((code) => code !== undefined && REFUSAL_CODES.has(code));
  const status =
    refusal !== undefined ? statusOf(refusal as ApiErrorCode) : mediaType === 'application/json' ? 200 : 400;
  return respond(JSON.stringify({ errors }), status, mediaType);
}

/** A formatted error of an executed operation: plain data, in GraphQLError's own key order. */
function formatted(
  message: string,
  error: GraphQLError,
  code: string,
  more?: Readonly<Record<string, string>>,
): GraphQLFormattedError {
  return { message, locations: error.locations, path: error.path, extensions: { code, ...more } };
}

export function mapExecutionError(error: GraphQLError, logger: Logger): GraphQLFormattedError {
  const original = error.originalError;
  // `code` first, then the error's own detail (a 503 GATEWAY_UNAVAILABLE says `disconnect: NOT_SENT | UNCONFIRMED`).
  if (isDomainError(original) && original.code !== 'INTERNAL')
    return formatted(original.message, error, original.code, original.extensions);
  if (original instanceof GraphQLError && codeOf(original) !== undefined && codeOf(original) !== 'INTERNAL') {
    return formatted(original.message, error, codeOf(original)!);
  }
  // A bug, a store failure or a null where the schema promised a value: say nothing about it.
  logger.error({ err: original ?? error, path: error.path }, 'resolver failed');
  return formatted(INTERNAL_MESSAGE, error, 'INTERNAL');
}

/**
 * The response for an executed operation. Without `data` (variables that do not coerce) it is a
 * request error, statused as GraphQL over HTTP says. With `data: null` and errors that all share one
 * code, the operation failed as a whole for that reason and the status says so (the seed's 400/403);
 * anything else, partial results included, is 200.
 */
export function executionResponse(
  result: ExecutionResult,
  mediaType: ResponseMediaType,
  logger: Logger,
): HandlerResponse {
  const errors = result.errors;
  if (errors === undefined || errors.length === 0)
    return respond(JSON.stringify({ data: result.data }), 200, mediaType);
  if (result.data === undefined) {
    const shown = errors.map((e) => ({
      message: e.message,
      locations: e.locations,
      path: e.path,
      extensions: { code: codeOf(e) ?? 'BAD_USER_INPUT' },
    }));
    return respond(JSON.stringify({ errors: shown }), mediaType === 'application/json' ? 200 : 400, mediaType);
  }
  const shown = errors.map((e) => mapExecutionError(e, logger));
  const status = failedAsWhole(result) ? (sharedStatus(shown) ?? 200) : 200;
  const headers = status === 401 ? { 'www-authenticate': 'Bearer' } : undefined;
  return respond(JSON.stringify({ errors: shown, data: result.data }), status, mediaType, headers);
}

/**
 * graphql-http's `formatError`: it only sees the errors of requests it could not read (bad JSON,
 * missing query, variables that are not an object), which are all BAD_REQUEST.
 */
export function formatRequestError(error: Readonly<GraphQLError | Error>): GraphQLError {
  if (error instanceof GraphQLError && codeOf(error) !== undefined) return error;
  return new GraphQLError(error.message, { extensions: { code: 'BAD_REQUEST' } });
}
