/**
 * The bad-input corpus: requests a careless or hostile client may send, each with the status and
 * `extensions.code` Switchboard must answer. test/bad-input.test.ts replays every case against the
 * whole running server and checks, besides the answer, that no session changed, that the server still
 * serves, and that nothing was logged at error level.
 *
 * Defaults of every request (a case's `headers` override them; `null` removes one):
 * `POST /graphql`, `Content-Type: application/json`, `Accept: application/graphql-response+json`,
 * `Authorization: Bearer <an admin token>`. `$SESSION` in a body stands for a session that is online (`$SESSION_UPPER`: its id in upper case);
 * `Bearer $READER` in a header stands for a `sessions:read` token.
 *
 * Cases that are one GraphQL operation (a JSON body with `query`, default headers or only `$READER`)
 * are also replayed over WebSocket (graphql-ws) and SSE (graphql-sse), where the same code is expected;
 * `transports` narrows a case (a subscription is not served over plain HTTP).
 *
 * Under `Accept: application/graphql-response+json` a document that does not parse or validate is a
 * 400; under plain `application/json` GraphQL over HTTP asks for 200 with the same `errors` (see the
 * `legacy accept` cases). Limits (QUERY_TOO_COMPLEX) and HTTP-level refusals answer 4xx under both.
 */

import { gzipSync } from 'node:zlib';
import { buildApiSchema } from '../../src/api/executable-schema.js';
import { INPUT_RULES } from '../../src/api/input-gate.js';
import { stringPositions } from './string-positions.js';

export interface BadInputCase {
  name: string;
  request: {
    method?: string;
    path?: string;
    headers?: Record<string, string | null>;
    /** The body as text; `$SESSION` is replaced by the id of an online session, `$SESSION_UPPER` by it in upper case. */
    body?: string;
    /** The body as bytes (for bodies that are not valid UTF-8). */
    bodyBase64?: string;
    /** Send the body chunked, without Content-Length (the limit must hold while streaming). */
    chunked?: boolean;
  };
  /**
   * `headers`: response headers the HTTP answer must carry (names in lower case); `message`: what the
   * first error's message must match, on every transport.
   */
  expect: { status: number; code: string; headers?: Record<string, string>; message?: RegExp };
  /** Where the case applies (default: HTTP, and WebSocket and SSE when it is one GraphQL operation). */
  transports?: readonly ('http' | 'ws' | 'sse')[];
}

const gql = (query: string, variables?: Record<string, unknown>): string => JSON.stringify({ query, variables });
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';
const DISCONNECT_WITH = 'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome } }';
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const MiB = 1024 * 1024;
const BULK = 'mutation ($in: DisconnectSessionsInput!) { disconnectSessions(input: $in) { matched ended } }';
const CREATE_TOKEN = 'mutation ($n: String!) { createToken(input: { name: $n, scopes: ["admin"] }) { secret } }';
const CREATE_WEBHOOK = 'mutation ($in: CreateWebhookInput!) { createWebhook(input: $in) { secret } }';
const webhook = (url: string, description?: string) => gql(CREATE_WEBHOOK, { in: { url, events: ['SESSION_CONNECTED'], description } });
const READER = { authorization: 'Bearer $READER' };

/** U+0000 in every string argument of the schema, each position on its own (generated: a new argument is covered at once). */
const NUL_EVERYWHERE: BadInputCase[] = stringPositions(buildApiSchema()).map((p) => ({
  name: `U+0000 in ${p.field}(${p.path})`,
  request: { body: JSON.stringify(p.request('sess_\u0000abc')) },
  expect: { status: 400, code: INPUT_RULES[p.ruleKey]?.code ?? 'BAD_USER_INPUT' },
  transports: p.operation === 'subscription' ? ['ws', 'sse'] : undefined,
}));

/** The input gate's cases: characters, names, sizes, webhook URLs (each one over HTTP, WebSocket and SSE). */
export const INPUT_GATE: readonly BadInputCase[] = [
  ...NUL_EVERYWHERE,
  { name: 'U+0000 in a document literal', request: { body: gql('{ onlineSession(id: "sess_\\u0000") { id } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'U+0000 in a bulk filter from a read-only token', request: { headers: READER, body: gql(BULK, { in: { filter: { userName: 'a\u0000b' } } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'U+0000 in a disconnect from a read-only token', request: { headers: READER, body: gql(DISCONNECT, { id: 'sess_\u0000' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'U+0000 in a token id from a read-only token', request: { headers: READER, body: gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: 'tok_\u0000' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'U+0000 in a user-name filter', request: { body: gql('query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }', { f: { userName: 'alice\u0000\u001b[2J' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'newline in a disconnect message', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', message: 'bye\nclient-kill 1' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'carriage return in a disconnect reason', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', reason: 'ok\rforged' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'DEL in an audit filter', request: { body: gql('query ($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { requestId: 'x\u007f' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'C1 control (U+009B) in a token name', request: { body: gql(CREATE_TOKEN, { n: 'ok\u009b31m' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'lone surrogate in a user-name filter', request: { body: gql('query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }', { f: { userName: 'a\ud800b' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'line separator in a gateway filter', request: { body: gql('query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }', { f: { gatewayId: 'gw\u2028x' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name with a right-to-left override', request: { body: gql(CREATE_TOKEN, { n: 'backup\u202Etxt.exe' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name with a bidi isolate', request: { body: gql(CREATE_TOKEN, { n: '\u2067admin\u2069' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name with a right-to-left mark', request: { body: gql(CREATE_TOKEN, { n: 'ops\u200F' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name with a zero-width space (reads as admin)', request: { body: gql(CREATE_TOKEN, { n: 'ad\u200Bmin' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook description with a soft hyphen', request: { body: webhook('https://example.com/hook', 'pager\u00ADduty') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook description with an Arabic letter mark', request: { body: webhook('https://example.com/hook', 'pager\u061Cduty') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook description of 501 characters', request: { body: webhook('https://example.com/hook', 'd'.repeat(501)) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'bulk filter of 100 000 characters', request: { body: gql(BULK, { in: { filter: { userName: 'u'.repeat(100_000) } } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'bulk filter of 100 000 characters from a read-only token', request: { headers: READER, body: gql(BULK, { in: { filter: { userName: 'u'.repeat(100_000), gatewayId: 'g'.repeat(50_000) }, reason: 'r'.repeat(5000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'session filter with a 10 000-character gateway id', request: { body: gql('query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }', { f: { gatewayId: 'g'.repeat(10_000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'audit filter with a 100 000-character user name', request: { body: gql('query ($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { targetUserName: 'u'.repeat(100_000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'event filter with a 100 000-character user name', request: { body: gql('subscription ($f: SessionEventFilter) { sessionEvents(filter: $f) { id } }', { f: { userName: 'u'.repeat(100_000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' }, transports: ['ws', 'sse'] },
  { name: '1 000 scopes', request: { body: gql('mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret } }', { in: { name: 'many', scopes: Array.from({ length: 1000 }, () => 'admin') } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with a newline in the host', request: { body: webhook('http://exa\nmple.com/hook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with a tab', request: { body: webhook('https://example.com/\thook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with U+0000', request: { body: webhook('https://example.com/\u0000') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with a leading control character', request: { body: webhook('\u0001https://example.com/hook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL javascript:', request: { body: webhook('javascript:alert(1)') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL file:', request: { body: webhook('file:///etc/passwd') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL ftp:', request: { body: webhook('ftp://example.com/hook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL data:', request: { body: webhook('data:text/plain,hello') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with credentials (fetch cannot send them; its error would name the password)', request: { body: webhook('https://user:hunter2@example.com/hook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL with a user name only', request: { body: webhook('https://user@example.com/hook') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'webhook URL that grows past 2 000 characters once percent-encoded', request: { body: webhook(`https://example.com/${'é'.repeat(1500)}`) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
];

export const BAD_INPUT: readonly BadInputCase[] = [
  // ── the HTTP request itself ──────────────────────────────────────────────────────────────────────
  { name: 'malformed JSON', request: { body: '{"query": ' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^Unparsable JSON body$/ } },
  // The same words on the SSE stream (it said JSON.parse's "Unexpected end of JSON input").
  { name: 'malformed JSON on the SSE stream', request: { path: '/graphql/stream', headers: { accept: 'text/event-stream' }, body: '{"query": ' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^Unparsable JSON body$/ } },
  // JSON that is no object: the same words on both (a parsed string was parsed again: "Unexpected token").
  { name: 'a JSON string as the body', request: { body: '"x"' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^JSON body must be an object$/ } },
  { name: 'a JSON string as the body on the SSE stream', request: { path: '/graphql/stream', headers: { accept: 'text/event-stream' }, body: '"x"' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^JSON body must be an object$/ } },
  // …but a body not declared as JSON is refused for its type first, as on /graphql.
  { name: 'malformed text/plain body on the SSE stream', request: { path: '/graphql/stream', headers: { accept: 'text/event-stream', 'content-type': 'text/plain' }, body: '{"query": ' }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'JSON with a trailing comma', request: { body: '{"query": "{ gateways { id } }",}' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'JSON null', request: { body: 'null' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'JSON string', request: { body: '"{ gateways { id } }"' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  // A batch is refused as one on every transport (SSE said "Missing query"; WebSocket closed the whole socket).
  { name: 'batched array of operations', request: { body: `[${gql('{ gateways { id } }')},${gql(DISCONNECT, { id: '$SESSION' })}]` }, expect: { status: 400, code: 'BAD_REQUEST', message: /^Batched requests/ }, transports: ['http', 'ws', 'sse'] },
  { name: 'empty batch', request: { body: '[]' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^Batched requests/ }, transports: ['http', 'ws', 'sse'] },
  { name: 'batch of one operation', request: { body: `[${gql('{ gateways { id } }')}]` }, expect: { status: 400, code: 'BAD_REQUEST', message: /^Batched requests/ }, transports: ['http', 'ws', 'sse'] },
  { name: 'byte order mark before JSON', request: { body: `\uFEFF${gql('{ gateways { id } }')}` }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'query is not a string', request: { body: '{"query": 5}' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'variables is an array', request: { body: '{"query": "{ gateways { id } }", "variables": [1]}' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'no query at all', request: { body: '{"variables": {}}' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'empty body', request: { body: '' }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'Content-Type text/plain', request: { headers: { 'content-type': 'text/plain' }, body: gql('{ gateways { id } }') }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'Content-Type form-urlencoded', request: { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'query=%7B%20gateways%20%7B%20id%20%7D%20%7D' }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'Content-Type multipart', request: { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\n\r\n--x--' }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'Content-Type application/graphql', request: { headers: { 'content-type': 'application/graphql' }, body: '{ gateways { id } }' }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'JSON in another charset', request: { headers: { 'content-type': 'application/json; charset=iso-8859-1' }, body: gql('{ gateways { id } }') }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'no Content-Type', request: { headers: { 'content-type': null }, body: gql('{ gateways { id } }') }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  { name: 'Accept only XML', request: { headers: { accept: 'application/xml' }, body: gql('{ gateways { id } }') }, expect: { status: 406, code: 'NOT_ACCEPTABLE' } },
  { name: 'invalid UTF-8 (0xFF 0xFE)', request: { bodyBase64: Buffer.from([0x7b, 0x22, 0x71, 0x75, 0x65, 0x72, 0x79, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64') }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'UTF-8 encoded surrogate half', request: { bodyBase64: Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]).toString('base64') }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'overlong UTF-8 slash', request: { bodyBase64: Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d]).toString('base64') }, expect: { status: 400, code: 'BAD_REQUEST' } },
  { name: 'huge body (2 MiB) with Content-Length', request: { body: gql(`{ gateways { id } } # ${'x'.repeat(2 * MiB)}`) }, expect: { status: 413, code: 'PAYLOAD_TOO_LARGE' } },
  { name: 'huge body (2 MiB) chunked, no Content-Length', request: { chunked: true, body: gql(`{ gateways { id } } # ${'x'.repeat(2 * MiB)}`) }, expect: { status: 413, code: 'PAYLOAD_TOO_LARGE' } },
  { name: 'huge body without a token: 401 before the body is read', request: { headers: { authorization: null }, body: 'x'.repeat(2 * MiB) }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'PUT', request: { method: 'PUT', body: gql('{ gateways { id } }') }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD, POST' } } },
  { name: 'DELETE', request: { method: 'DELETE' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD, POST' } } },
  { name: 'PUT without a token: 405 before any token is asked for', request: { method: 'PUT', headers: { authorization: null } }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD, POST' } } },
  // No CORS: a browser's preflight is refused like any method a path does not serve (405 with Allow, no Access-Control-*).
  { name: 'CORS preflight on /graphql', request: { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD, POST' } } },
  // A known path asked with a method it does not serve is 405 with Allow (it was 404, as if the path did not exist).
  { name: 'OPTIONS on the console', request: { method: 'OPTIONS', path: '/' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } } },
  { name: 'POST to a console route', request: { path: '/sessions', body: '{}' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } } },
  { name: 'POST to /healthz', request: { path: '/healthz', body: '{}' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } } },
  { name: 'DELETE on /readyz', request: { method: 'DELETE', path: '/readyz' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } } },
  { name: 'PATCH on /metrics', request: { method: 'PATCH', path: '/metrics', body: '{}' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD' } } },
  { name: 'OPTIONS on an unknown path', request: { method: 'OPTIONS', path: '/admin' }, expect: { status: 404, code: 'NOT_FOUND' } },
  // The asterisk form is for OPTIONS only (RFC 9112, 3.2.4): refused like OPTIONS anywhere (it was 404 "No route for OPTIONS *").
  { name: 'OPTIONS * (the asterisk form)', request: { method: 'OPTIONS', path: '*' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, HEAD, POST' } } },
  { name: 'GET * (the asterisk form with another method)', request: { method: 'GET', path: '*' }, expect: { status: 400, code: 'BAD_REQUEST', message: /^The request target \* is only for OPTIONS/ } },
  { name: 'request headers over 16 KiB', request: { headers: { 'x-padding': 'p'.repeat(20 * 1024) }, body: gql('{ gateways { id } }') }, expect: { status: 431, code: 'HEADERS_TOO_LARGE' } },
  // The SSE path refuses like /graphql (graphql-sse took these for its single-connection mode: 404, 415).
  { name: 'DELETE on the SSE stream', request: { method: 'DELETE', path: '/graphql/stream', headers: { accept: 'text/event-stream' } }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, POST' } } },
  { name: 'OPTIONS on the SSE stream', request: { method: 'OPTIONS', path: '/graphql/stream' }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, POST' } } },
  { name: 'PUT on the SSE stream (a graphql-sse reservation, not served)', request: { method: 'PUT', path: '/graphql/stream', headers: { accept: 'text/event-stream' } }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET, POST' } } },
  { name: 'SSE stream asked for JSON', request: { path: '/graphql/stream', headers: { accept: 'application/json' }, body: gql('subscription { sessionEvents { type } }') }, expect: { status: 406, code: 'NOT_ACCEPTABLE' } },
  { name: 'SSE stream refusing the event stream (q=0)', request: { path: '/graphql/stream', headers: { accept: 'text/event-stream;q=0, application/json' }, body: gql('{ gateways { id } }') }, expect: { status: 406, code: 'NOT_ACCEPTABLE' } },
  { name: 'SSE stream over GET asked for HTML', request: { method: 'GET', path: `/graphql/stream?query=${encodeURIComponent('{ gateways { id } }')}`, headers: { accept: 'text/html' } }, expect: { status: 406, code: 'NOT_ACCEPTABLE' } },
  // A compressed body is refused for what it is (it was read as is: 'not valid UTF-8', or run when it happened to be ASCII).
  { name: 'gzip-compressed body', request: { headers: { 'content-encoding': 'gzip' }, bodyBase64: gzipSync(gql('{ gateways { id } }')).toString('base64') }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', headers: { 'accept-encoding': 'identity' } } },
  { name: 'gzip-compressed body on the SSE stream', request: { path: '/graphql/stream', headers: { accept: 'text/event-stream', 'content-encoding': 'gzip' }, bodyBase64: gzipSync(gql('{ gateways { id } }')).toString('base64') }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', headers: { 'accept-encoding': 'identity' } } },
  { name: 'a coding the body is not in (br over plain JSON)', request: { headers: { 'content-encoding': 'br' }, body: gql(DISCONNECT, { id: '$SESSION' }) }, expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', headers: { 'accept-encoding': 'identity' } } },
  { name: 'mutation over GET on the SSE stream', request: { method: 'GET', path: `/graphql/stream?query=${encodeURIComponent('mutation { disconnectBySessionId(onlineSessionId: "$SESSION") }')}`, headers: { accept: 'text/event-stream' } }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'POST' } } },
  { name: 'mutation over GET', request: { method: 'GET', path: `/graphql?query=${encodeURIComponent('mutation { disconnectBySessionId(onlineSessionId: "$SESSION") }')}` }, expect: { status: 405, code: 'METHOD_NOT_ALLOWED' } },
  { name: 'unknown path', request: { path: '/graphql/../admin', body: '{}' }, expect: { status: 404, code: 'NOT_FOUND' } },

  // ── authentication ───────────────────────────────────────────────────────────────────────────────
  { name: 'no token', request: { headers: { authorization: null }, body: gql('{ gateways { id } }') }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'Basic credentials', request: { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' }, body: gql('{ gateways { id } }') }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'token of the right shape, unknown', request: { headers: { authorization: 'Bearer sbt_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }, body: gql('{ gateways { id } }') }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'token with SQL in it', request: { headers: { authorization: "Bearer sbt_'OR'1'='1_x" }, body: gql('{ gateways { id } }') }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'token of 8 000 characters', request: { headers: { authorization: `Bearer ${'a'.repeat(8000)}` }, body: gql('{ gateways { id } }') }, expect: { status: 401, code: 'UNAUTHENTICATED' } },
  { name: 'malformed JSON without a token: 401 first', request: { headers: { authorization: null }, body: '{"query": ' }, expect: { status: 401, code: 'UNAUTHENTICATED' } },

  // ── the GraphQL document ─────────────────────────────────────────────────────────────────────────
  { name: 'syntax error', request: { body: gql('{ gateways { id }') }, expect: { status: 400, code: 'GRAPHQL_PARSE_FAILED' } },
  { name: 'unknown field', request: { body: gql('{ sessions { id } }') }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'legacy accept: unknown field is 200 with the code', request: { headers: { accept: 'application/json' }, body: gql('{ sessions { id } }') }, expect: { status: 200, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'nesting 40 levels deep', request: { body: gql(`{ onlineSessions { edges { node { ${'gateway { '.repeat(38)}id${' }'.repeat(38)} } } } }`) }, expect: { status: 400, code: 'QUERY_TOO_COMPLEX' } },
  { name: 'nesting 9 000 levels deep (parser stack)', request: { body: gql(`{${'gateways{'.repeat(9000)}id${'}'.repeat(9001)}`) }, expect: { status: 400, code: 'QUERY_TOO_COMPLEX' } },
  { name: 'variables nested 100 000 levels deep', request: { body: `{"query":"query ($id: String!) { onlineSession(id: $id) { id } }","variables":{"id":${'['.repeat(100000)}${']'.repeat(100000)}}}` }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'input object nested 20 000 levels deep', request: { body: `{"query":"query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }","variables":{"f":${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}}}` }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: '30 000 tokens', request: { body: gql(`{${' __typename'.repeat(30000)} }`) }, expect: { status: 400, code: 'GRAPHQL_PARSE_FAILED' } },
  {
    name: 'alias bomb: 300 aliased disconnects of one session',
    request: { body: gql(`mutation { ${Array.from({ length: 300 }, (_, i) => `d${i}: disconnectBySessionId(onlineSessionId: "$SESSION")`).join(' ')} }`) },
    expect: { status: 400, code: 'QUERY_TOO_COMPLEX' },
  },
  {
    name: 'alias bomb under legacy accept: still refused as a whole',
    request: { headers: { accept: 'application/json' }, body: gql(`mutation { ${Array.from({ length: 300 }, (_, i) => `d${i}: disconnectBySessionId(onlineSessionId: "$SESSION")`).join(' ')} }`) },
    expect: { status: 400, code: 'QUERY_TOO_COMPLEX' },
  },
  {
    name: 'alias bomb through a fragment spread 30 times',
    request: { body: gql(`query { ${Array.from({ length: 30 }, (_, i) => `g${i}: gateways { ...F }`).join(' ')} } fragment F on Gateway { a: id b: id c: id }`) },
    expect: { status: 400, code: 'QUERY_TOO_COMPLEX' },
  },
  {
    name: 'cost bomb: 10 pages of 500 sessions with their gateways',
    request: { body: gql(`{ ${Array.from({ length: 10 }, (_, i) => `p${i}: onlineSessions(first: 500) { edges { node { id user { id name } gateway { id name region protocol } } } }`).join(' ')} }`) },
    expect: { status: 400, code: 'QUERY_TOO_COMPLEX' },
  },
  { name: 'circular fragments', request: { body: gql('query { gateways { ...A } } fragment A on Gateway { id ...B } fragment B on Gateway { name ...A }') }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'fragment spreading itself', request: { body: gql('query { gateways { ...A } } fragment A on Gateway { ...A }') }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'several operations, no operationName', request: { body: gql('query a { gateways { id } } mutation b { disconnectBySessionId(onlineSessionId: "$SESSION") }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'operationName that is not in the document', request: { body: JSON.stringify({ query: 'query a { gateways { id } }', operationName: 'b' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'subscription over HTTP', request: { body: gql('subscription { sessionEvents { id } }') }, expect: { status: 400, code: 'BAD_REQUEST' }, transports: ['http'] },
  { name: 'a directive repeated 500 times', request: { body: gql(`{ gateways${' @skip(if: false)'.repeat(500)} { id } }`) }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },

  // ── arguments: page sizes and cursors ────────────────────────────────────────────────────────────
  { name: 'first: 100 000 000', request: { body: gql('{ onlineSessions(first: 100000000) { totalCount } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'first beyond 32 bits', request: { body: gql('{ onlineSessions(first: 99999999999) { totalCount } }') }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'first: -1', request: { body: gql('{ onlineSessions(first: -1) { totalCount } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'first: 0', request: { body: gql('{ auditEvents(first: 0) { totalCount } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'first as a variable: 1e400', request: { body: '{"query":"query ($n: Int) { onlineSessions(first: $n) { totalCount } }","variables":{"n":1e400}}' }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'first as a variable: 1.5', request: { body: gql('query ($n: Int) { onlineSessions(first: $n) { totalCount } }', { n: 1.5 }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'truncated cursor', request: { body: gql('{ onlineSessions(after: "djE6MTIz") { totalCount } }') }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'forged cursor carrying SQL', request: { body: gql(`{ onlineSessions(after: "${b64("v1:1:sess_a' OR '1'='1")}") { totalCount } }`) }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'forged cursor with a huge timestamp', request: { body: gql(`{ auditEvents(after: "${b64('v1:99999999999999999999:aud_aaaaaaaaaaaa')}") { totalCount } }`) }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'cursor that is not base64url', request: { body: gql('{ onlineSessions(after: "!!!$$$") { totalCount } }') }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'cursor of 10 000 characters', request: { body: gql(`{ onlineSessions(after: "${'A'.repeat(10000)}") { totalCount } }`) }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'history: first: 0', request: { body: gql('{ sessionHistory(first: 0) { totalCount } }'), headers: READER }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'history: forged cursor carrying SQL', request: { body: gql(`{ sessionHistory(after: "${b64("v1:1:sess_a' OR '1'='1")}") { totalCount } }`), headers: READER }, expect: { status: 400, code: 'BAD_CURSOR' } },
  { name: 'history: an address of 500 characters', request: { body: gql('query ($f: SessionHistoryFilter) { sessionHistory(filter: $f) { totalCount } }', { f: { address: '1'.repeat(500) } }), headers: READER }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'history: a user name with a lone surrogate', request: { body: gql('query ($f: SessionHistoryFilter) { sessionHistory(filter: $f) { totalCount } }', { f: { userName: 'alice\udc00\u001b[2J' } }), headers: READER }, expect: { status: 400, code: 'BAD_USER_INPUT' } },

  // ── ids ──────────────────────────────────────────────────────────────────────────────────────────
  { name: 'session id with SQL', request: { body: gql(DISCONNECT, { id: "sess_x' OR '1'='1'; DROP TABLE sessions; --" }) }, expect: { status: 400, code: 'SESSION_NOT_FOUND' } },
  { name: 'session id with shell', request: { body: gql(DISCONNECT, { id: 'sess_$(kill -9 1)`reboot`;|&' }) }, expect: { status: 400, code: 'SESSION_NOT_FOUND' } },
  { name: 'session id with control characters and a management command', request: { body: gql(DISCONNECT, { id: 'sess_\u0000\r\nclient-kill 1 HALT\n\u001b[2J' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'online session id with a suffix', request: { body: gql(DISCONNECT, { id: '$SESSION\n' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'online session id in upper case', request: { body: gql(DISCONNECT, { id: '$SESSION_UPPER' }) }, expect: { status: 400, code: 'SESSION_NOT_FOUND' } },
  { name: 'session id of 100 000 characters', request: { body: gql(DISCONNECT, { id: `sess_${'a'.repeat(100000)}` }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  // Variables that do not coerce: graphql-js's words on every transport (HTTP said graphql-jit's
  // "Expected type String; …" once an operation was compiled, WebSocket and SSE graphql-js's).
  { name: 'session id as a number', request: { body: gql(DISCONNECT, { id: 5 }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$id" got invalid value 5; String cannot represent a non string value: 5$/ } },
  { name: 'session id as an object', request: { body: gql(DISCONNECT, { id: { a: 1 } }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$id" got invalid value \{ a: 1 \}; String cannot represent a non string value: \{ a: 1 \}$/ } },
  { name: 'session id as a list', request: { body: gql(DISCONNECT, { id: ['sess_a'] }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$id" got invalid value \["sess_a"\]; String cannot represent a non string value: \["sess_a"\]$/ } },
  { name: 'session id missing', request: { body: gql(DISCONNECT, {}) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$id" of required type "String!" was not provided\.$/ } },
  { name: 'session id null', request: { body: gql(DISCONNECT, { id: null }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$id" of non-null type "String!" must not be null\.$/ } },
  // A scalar's own refusal in the same words too (SSE and WebSocket said the scalar's message alone).
  { name: 'DateTime variable that is not one', request: { body: gql('query ($t: DateTime) { onlineSessions(filter: { connectedAfter: $t }) { totalCount } }', { t: 'nope' }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$t" got invalid value "nope"; DateTime must be an ISO-8601 date-time/ } },
  { name: 'DateTime variable that is a number', request: { body: gql('query ($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { since: 5 } }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$f" got invalid value 5 at "f\.since"; DateTime must be/ } },
  { name: 'session filter as a number', request: { body: gql('query ($f: OnlineSessionFilter) { onlineSessions(filter: $f) { totalCount } }', { f: 5 }) }, expect: { status: 400, code: 'BAD_USER_INPUT', message: /^Variable "\$f" got invalid value 5; Expected type "OnlineSessionFilter" to be an object\.$/ } },
  { name: 'token id with SQL', request: { body: gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: "tok_' OR 1=1 --" }) }, expect: { status: 400, code: 'TOKEN_NOT_FOUND' } },

  // ── strings and other arguments ──────────────────────────────────────────────────────────────────
  { name: 'reason of 5 000 characters', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', reason: 'r'.repeat(5000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'message of 1 000 characters', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', message: 'm'.repeat(1000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'reason of 500 000 characters', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', reason: 'é'.repeat(500000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'bulk disconnect with a reason of 5 000 characters', request: { body: gql('mutation ($in: DisconnectSessionsInput!) { disconnectSessions(input: $in) { matched ended } }', { in: { filter: { gatewayId: 'gw-corpus' }, reason: 'r'.repeat(5000) } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'bulk disconnect of everything without all: true', request: { body: gql('mutation { disconnectSessions(input: {}) { matched ended } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'bulk disconnect whose only filter is an empty userNameContains (matches every user), without all: true', request: { body: gql('mutation { disconnectSessions(input: { filter: { userNameContains: "" } }) { matched ended } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'blockSeconds: -5', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', blockSeconds: -5 } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'blockSeconds beyond a year', request: { body: gql(DISCONNECT_WITH, { in: { sessionId: '$SESSION', blockSeconds: 2_000_000_000 } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'mode that does not exist', request: { body: gql('mutation { disconnectSession(input: { sessionId: "$SESSION", mode: KILL }) { outcome } }') }, expect: { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' } },
  { name: 'DateTime that is not one', request: { body: gql('{ onlineSessions(filter: { connectedAfter: "yesterday" }) { totalCount } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'DateTime on a day February does not have (2024-02-31, not rolled to March 2)', request: { body: gql('{ onlineSessions(filter: { connectedAfter: "2024-02-31T00:00:00Z" }) { totalCount } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'DateTime variable on 29 February of a common year', request: { body: gql('query ($t: DateTime) { onlineSessions(filter: { connectedAfter: $t }) { totalCount } }', { t: '2023-02-29T12:00:00+02:00' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'DateTime variable at 24:30 (24 is only 24:00:00)', request: { body: gql('query ($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { since: '2024-01-01T24:30:00Z' } }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name with control characters', request: { body: gql('mutation ($n: String!) { createToken(input: { name: $n, scopes: ["admin"] }) { secret } }', { n: 'ok\u001b[31m\nforged line' }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token name of 10 000 characters', request: { body: gql('mutation ($n: String!) { createToken(input: { name: $n, scopes: ["admin"] }) { secret } }', { n: 'n'.repeat(10000) }) }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'token lifetime of 10^14 weeks', request: { body: gql('mutation { createToken(input: { name: "forever", scopes: ["admin"], expiresIn: "99999999999999w" }) { secret } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },
  { name: 'unknown scope', request: { body: gql('mutation { createToken(input: { name: "root", scopes: ["root"] }) { secret } }') }, expect: { status: 400, code: 'BAD_USER_INPUT' } },

  ...INPUT_GATE,
];
