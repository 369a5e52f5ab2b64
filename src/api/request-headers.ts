/**
 * Header checks shared by every transport. Node keeps only the first of several `Authorization`
 * headers; a proxy in front may keep the last. Two servers reading one request two ways is how a
 * request gets smuggled past one of them, so a request with more than one is refused as a whole.
 */
import type { IncomingMessage } from 'node:http';

/** True when the request carries more than one `Authorization` header. */
export function duplicateAuthorization(req: IncomingMessage): boolean {
  return (req.headersDistinct.authorization?.length ?? 0) > 1;
}
