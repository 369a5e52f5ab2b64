/**
 * Requests node:http refuses before any handler sees them (a request line and headers over its
 * 16 KiB limit, a request that is not HTTP, one that took too long to arrive) get the API's coded
 * JSON error, as every other refusal does, instead of node's bare status line.
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

export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset connection, or one whose response has begun: nothing more can be said on it (node's
    // own test, on its own field).
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight) return void socket.destroy();
    const [code, message] = refusalOf(err.code);
    const status = statusOf(code);
    const body = errorBody(code, message);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}
