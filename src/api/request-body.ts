/**
 * Reads a request body ourselves, before graphql-http sees it: with a size limit (checked against
 * Content-Length first, then while streaming) and as strict UTF-8.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';

export type BodyProblem = { code: 'PAYLOAD_TOO_LARGE' | 'BAD_REQUEST'; message: string };

/** The body as text, or why it cannot be used. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<string | BodyProblem> {
  const tooLarge: BodyProblem = { code: 'PAYLOAD_TOO_LARGE', message: `The request body is larger than ${limitBytes} bytes` };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve, reject) => {
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
    req.once('error', (err) => {
      if (!done) reject(err);
      done = true;
    });
    req.once('close', () => {
      if (!done) reject(new Error('request closed before its body was read'));
      done = true;
    });
  });
}
