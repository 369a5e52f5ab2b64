/**
 * Requests node:http refuses before any handler sees them (a request line and headers over its
 * 16 KiB limit, a request that is not HTTP, one that took too long to arrive) get the API's coded
 * JSON error, as every other refusal does, instead of node's bare status line. So does `CONNECT`,
 * which node:http hands to its 'connect' listeners only (without one, the socket was closed unanswered).
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, statusOf, type ApiErrorCode } from './errors.js';

function refusalOf(code: string | undefined): [ApiErrorCode, string] {
  if (code === 'HPE_HEADER_OVERFLOW')
    return ['HEADERS_TOO_LARGE', 'The request line and headers must be at most 16 KiB (send a long query by POST)'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return ['REQUEST_TIMEOUT', 'The request did not arrive in time'];
  return ['BAD_REQUEST', 'Malformed HTTP request'];
}

/**
 * A whole HTTP/1.1 answer written on a socket no handler owns: the coded JSON error, no caching, no
 * sniffing, and the connection closed after it. `extra`: more header lines, each ending in CRLF.
 */
export function rawRefusal(status: number, code: ApiErrorCode, message: string, extra = ''): string {
  const body = errorBody(code, message);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The methods some path of the API serves: what `Allow` says where the target is no path. */
export const SERVED_METHODS = 'GET, HEAD, POST';

export function answerClientErrors(server: Server): void {
  // CONNECT asks for a tunnel (authority form, `host:port`): this is no proxy. What the client sent
  // after the request line is never read.
  server.on('connect', (_req: unknown, socket: Duplex) => {
    if (!socket.writable) return void socket.destroy();
    socket.end(
      rawRefusal(
        405,
        'METHOD_NOT_ALLOWED',
        'CONNECT is not served: Switchboard is no proxy',
        `allow: ${SERVED_METHODS}\r\n`,
      ),
      () => socket.destroy(),
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset connection, or one whose response has begun: nothing more can be said on it (node's
    // own test, on its own field).
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight) return void socket.destroy();
    const [code, message] = refusalOf(err.code);
    socket.end(rawRefusal(statusOf(code), code, message));
  });
}
