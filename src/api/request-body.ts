/**
 * Reads a request body ourselves, before graphql-http or graphql-sse sees it: with a size limit
 * (checked against Content-Length first, then while streaming, so a chunked body is never buffered
 * past the limit) and as strict UTF-8, uncompressed (a Content-Encoding other than identity is
 * refused with 415 before anything is read). A client that goes away mid-upload is not an error of ours:
 * it is ABORTED, for the caller to note at debug level and answer no one.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';

export type BodyProblem = {
  code: 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'BAD_REQUEST' | 'ABORTED';
  message: string;
  /** Headers of the refusal: `Connection: close` when the body was left unread on the wire. */
  headers?: Record<string, string>;
};

/** Content codings a body may come in: none. */
const IDENTITY = /^\s*(identity\s*)?$/i;

/**
 * The body as text, or why it cannot be used. A body whose declared bytes have all arrived by the
 * time this is called (a small POST comes in one packet with its headers) is taken from the stream's
 * buffer at once, with the same checks, and the answer is not a promise: no listeners, no flowing
 * mode, no ticks to deliver it.
 */
export function readBody(
  req: IncomingMessage,
  limitBytes: number,
): string | BodyProblem | Promise<string | BodyProblem> {
  // After a refusal the connection cannot be reused: the rest of the body is still on the wire.
  const unread = { connection: 'close' };
  const tooLarge = (): BodyProblem => ({
    code: 'PAYLOAD_TOO_LARGE',
    message: `The request body is larger than ${limitBytes} bytes`,
    headers: unread,
  });
  // A compressed body was read as it is and refused as "not valid UTF-8" (or, being ASCII, run as
  // if it were the JSON): say what is wrong, and which coding is accepted (RFC 7694).
  const coding = req.headers['content-encoding'];
  if (coding !== undefined && !IDENTITY.test(coding))
    return {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `Content-Encoding ${coding.trim().slice(0, 40)} is not accepted: send the body uncompressed`,
      headers: { ...unread, 'accept-encoding': 'identity' },
    };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) return tooLarge();
  if (
    declared !== undefined &&
    req.readableFlowing === null &&
    !req.readableDidRead &&
    req.readableLength === Number(declared)
  ) {
    // Every byte the request declared is in the buffer (the parser holds to Content-Length): read it.
    return textOf(req.readableLength === 0 ? Buffer.alloc(0) : (req.read() as Buffer));
  }
  const aborted: BodyProblem = { code: 'ABORTED', message: 'The client closed the request before its body was read' };
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        done = true;
        req.off('data', onData);
        resolve(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (done) return;
      done = true;
      resolve(textOf(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    });
    // 'error' (a reset connection) or 'close' before 'end': the upload was cut short.
    const cut = () => {
      if (!done) resolve(aborted);
      done = true;
    };
    req.once('error', cut);
    req.once('close', cut);
  });
}

function textOf(bytes: Buffer): string | BodyProblem {
  return isUtf8(bytes)
    ? bytes.toString('utf8')
    : { code: 'BAD_REQUEST', message: 'The request body is not valid UTF-8' };
}

/**
 * Whether a body is a batch (a JSON array of operations), which no transport serves: each answers
 * BAD_REQUEST with BATCH_REFUSAL rather than a library's "Missing query".
 */
export function isBatch(body: string): boolean {
  return /^\s*\[/.test(body);
}
