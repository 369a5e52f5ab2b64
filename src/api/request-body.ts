/**
 * Reads a request body ourselves, before graphql-http or graphql-sse sees it: with a size limit
 * (checked against Content-Length first, then while streaming, so a chunked body is never buffered
 * past the limit) and as strict UTF-8. A client that goes away mid-upload is not an error of ours:
 * it is ABORTED, for the caller to note at debug level and answer no one.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';

export type BodyProblem = { code: 'PAYLOAD_TOO_LARGE' | 'BAD_REQUEST' | 'ABORTED'; message: string };

/** The body as text, or why it cannot be used. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<string | BodyProblem> {
  const tooLarge: BodyProblem = {
    code: 'PAYLOAD_TOO_LARGE',
    message: `The request body is larger than ${limitBytes} bytes`,
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) return Promise.resolve(tooLarge);
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
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (done) return;
      done = true;
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (!isUtf8(bytes)) resolve({ code: 'BAD_REQUEST', message: 'The request body is not valid UTF-8' });
      else resolve(bytes.toString('utf8'));
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
