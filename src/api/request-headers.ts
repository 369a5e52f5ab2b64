/**
 * Checks shared by every transport against requests that could be read two ways. Node keeps only the
 * first of several `Authorization` or `Content-Type` headers, and graphql-http and graphql-sse the
 * first of several `?query=` parameters; a proxy or WAF in front may keep the last. Two servers
 * reading one request two ways is how a request gets smuggled past one of them, so such a request is
 * refused as a whole.
 */
import type { IncomingMessage } from 'node:http';

/** The first of `names` (lower case) that the request carries more than once, or null. */
function repeatedHeader(req: IncomingMessage, names: readonly string[]): string | null {
  // The raw list (name, value, name, value…) as received: `headersDistinct` would build an array
  // for every header of every request to count these.
  const raw = req.rawHeaders;
  const seen: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const wanted = names.find((n) => n.length === name.length && n === name.toLowerCase());
    if (wanted === undefined) continue;
    if (seen.includes(wanted)) return wanted;
    seen.push(wanted);
  }
  return null;
}

/** True when the request carries more than one `Authorization` header. */
export function duplicateAuthorization(req: IncomingMessage): boolean {
  return repeatedHeader(req, ['authorization']) !== null;
}

const ONCE_HEADERS = ['authorization', 'content-type'] as const;
const HEADER_NAMES: Record<(typeof ONCE_HEADERS)[number], string> = {
  authorization: 'Authorization',
  'content-type': 'Content-Type',
};
/** The parameters of a GraphQL GET (GraphQL over HTTP). */
const GET_PARAMETERS = ['query', 'operationName', 'variables', 'extensions'] as const;

/**
 * Why a GraphQL request (on `/graphql` or `/graphql/stream`) could be read two ways: an
 * `Authorization` or `Content-Type` header given twice, or a GET parameter given twice. Null when
 * it cannot.
 */
export function ambiguity(req: IncomingMessage): string | null {
  const header = repeatedHeader(req, ONCE_HEADERS) as (typeof ONCE_HEADERS)[number] | null;
  if (header !== null) return `Send one ${HEADER_NAMES[header]} header, not several`;
  const url = req.url ?? '';
  const start = url.indexOf('?');
  if (req.method !== 'GET' || start < 0) return null;
  const params = new URLSearchParams(url.slice(start + 1));
  const twice = GET_PARAMETERS.find((p) => params.getAll(p).length > 1);
  return twice === undefined ? null : `Give the ${twice} parameter once, not several times`;
}
