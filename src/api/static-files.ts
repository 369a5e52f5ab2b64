/**
 * Serves the operator console (the Vite build in dist/ui) from the API's own server: files by their
 * content type, hashed assets cached for a year, the console's own routes answered with index.html so
 * a reload or a shared link works. Nothing outside the folder can be reached; any other path is left
 * to the API's JSON 404.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Files the build precompresses (ui/vite.config.ts), and the suffix of each encoding's copy. */
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json)$/;
const SUFFIX = { br: 'br', gzip: 'gz' } as const;
type Encoding = keyof typeof SUFFIX;

/** The encodings of an Accept-Encoding header that we have copies in, best first (brotli, then gzip); `q=0` refuses one. */
export function acceptedEncodings(header: string | string[] | undefined): Encoding[] {
  const offered = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find((m) => m !== null);
    if (name) offered.set(name, q ? Number(q[1]) : 1);
  }
  const wildcard = offered.get('*');
  return (['br', 'gzip'] as const).filter((e) => (offered.get(e) ?? wildcard ?? 0) > 0);
}

/** The console talks to /graphql on the same origin and loads nothing from anywhere else. */
const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The console's client routes (ui/src/shell/router.ts): answered with index.html. */
export const CONSOLE_ROUTES: readonly string[] = [
  '/',
  '/sessions',
  '/gateways',
  '/blocks',
  '/audit',
  '/tokens',
  '/history',
];

export const NOT_BUILT_MESSAGE =
  'The operator console is not built. Run `npm run build` (it writes dist/ui), then restart Switchboard. The API is at /graphql.';

/**
 * The built console: next to the compiled server (dist/api → dist/ui) or, when running from source
 * with tsx, in the repository's dist/ui. Null when neither exists.
 */
export function defaultUiDir(): string | null {
  for (const rel of ['../ui/', '../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return resolve(dir);
  }
  return null;
}

/**
 * A static handler for one folder (GET and HEAD only). Resolves with the status it answered, or null
 * when the path is neither a file of the console nor one of its routes. `dir` null: the console
 * routes answer NOT_BUILT_MESSAGE.
 */
export interface StaticHandler {
  (req: IncomingMessage, res: ServerResponse, path: string): Promise<number | null>;
  /** Whether a GET of the path is answered here (a file of the console, or one of its routes). */
  serves(path: string): Promise<boolean>;
}

export function createStaticHandler(dir: string | null): StaticHandler {
  const root = dir === null ? null : resolve(dir);
  const assets = root === null ? null : join(root, 'assets') + sep;

  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: Buffer | string,
  ): number {
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
    return status;
  }

  function plain(req: IncomingMessage, res: ServerResponse, status: number, text: string): number {
    return answer(req, res, status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, text);
  }

  async function fileAt(path: string): Promise<string | null> {
    try {
      return (await stat(path)).isFile() ? path : null;
    } catch {
      return null;
    }
  }

  /** The file a GET of the path answers with: `not built` for a console route without a build, null: not ours. */
  async function locate(urlPath: string): Promise<{ file: string; fallback: boolean } | 'not built' | null> {
    const route = CONSOLE_ROUTES.includes(urlPath.length > 1 ? urlPath.replace(/\/+$/, '') : urlPath);
    if (root === null) return route ? 'not built' : null;
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return null;
    const target = resolve(root, `.${decoded.startsWith('/') ? decoded : `/${decoded}`}`);
    // `..` and its encodings resolve outside the folder: not ours to answer.
    if (target !== root && !target.startsWith(root + sep)) return null;
    const file = route || target === root ? null : await fileAt(target);
    if (file !== null) return { file, fallback: false };
    if (!route) return null;
    const index = await fileAt(join(root, 'index.html'));
    return index === null ? 'not built' : { file: index, fallback: true };
  }

  const handler = async (req: IncomingMessage, res: ServerResponse, urlPath: string): Promise<number | null> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return null;
    const found = await locate(urlPath);
    if (found === null) return null;
    if (found === 'not built') return plain(req, res, 404, NOT_BUILT_MESSAGE);
    const { file, fallback } = found;
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    // Vite names every file under assets/ by its content hash: a changed file is a new name.
    const hashed = !fallback && assets !== null && file.startsWith(assets);
    const headers: Record<string, string> = {
      'content-type': type,
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    // The build wrote <file>.br and <file>.gz beside each text file: send one the browser accepts.
    let body: Buffer | null = null;
    if (COMPRESSIBLE.test(file)) {
      headers.vary = 'accept-encoding';
      for (const encoding of acceptedEncodings(req.headers['accept-encoding'])) {
        const packed = await fileAt(`${file}.${SUFFIX[encoding]}`);
        if (packed === null) continue;
        body = await readFile(packed);
        headers['content-encoding'] = encoding;
        break;
      }
    }
    body ??= await readFile(file);
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] = CSP;
      headers['referrer-policy'] = 'no-referrer';
      headers['x-frame-options'] = 'DENY';
    }
    return answer(req, res, 200, headers, body);
  };
  return Object.assign(handler, { serves: async (path: string) => (await locate(path)) !== null });
}
