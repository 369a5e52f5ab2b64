/**
 * Header checks shared by every transport. Node keeps only the first of several `Authorization`
 * headers; a proxy in front may keep the last. Two servers reading one request two ways is how a
 * request gets smuggled past one of them, so a request with more than one is refused as a whole.
 */
import type { IncomingMessage } from 'node:http';

/** True when the request carries more than one `Authorization` header. */
export function duplicateAuthorization(req: IncomingMessage): boolean {
  // The raw list (name, value, name, value…) as received: `headersDistinct` would build an array
  // for every header of every request to count this one.
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++seen > 1) return true;
  }
  return false;
}
