/**
 * The operator console's static files, through the real API server: content types, cache headers,
 * index.html for the console's routes, no way out of the folder, a clear message when not built, and
 * /graphql, /healthz and unknown paths answered as before.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeCore } from './fake-core.test-support.js';
import { createApiServer, type ApiServer } from './http-server.js';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { NOT_BUILT_MESSAGE, acceptedEncodings } from './static-files.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  bytes: Buffer;
}

/** A raw GET: fetch would normalise `..` away before it is ever sent. */
function get(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(uiDir: string | null): Promise<{ api: ApiServer; port: number; core: FakeCore }> {
  const core = new FakeCore();
  const api = createApiServer({ core, logger: pino({ level: 'silent' }), uiDir });
  const address: AddressInfo = await api.listen('127.0.0.1', 0);
  return { api, port: address.port, core };
}

async function stop(api: ApiServer): Promise<void> {
  api.closeStreams();
  await new Promise<void>((r) => api.server.close(() => r()));
}

describe('operator console files', () => {
  let base: string;
  let port: number;
  let api: ApiServer;
  let core: FakeCore;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'sb-ui-'));
    const ui = join(base, 'ui');
    mkdirSync(join(ui, 'assets'), { recursive: true });
    writeFileSync(join(ui, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(ui, 'assets', 'index-Ab12Cd34.js'), 'console.log(1)');
    // As the build leaves them: a brotli and a gzip copy beside the script (made different on purpose,
    // so the test sees which file was sent).
    writeFileSync(join(ui, 'assets', 'index-Ab12Cd34.js.br'), brotliCompressSync('console.log("br")'));
    writeFileSync(join(ui, 'assets', 'index-Ab12Cd34.js.gz'), gzipSync('console.log("gz")'));
    writeFileSync(join(ui, 'assets', 'index-Ef56Gh78.css'), 'body{}');
    writeFileSync(join(ui, 'robots.txt'), 'User-agent: *');
    writeFileSync(join(base, 'secret.txt'), 'TOP SECRET');
    ({ api, port, core } = await start(ui));
  });
  after(async () => {
    await stop(api);
    rmSync(base, { recursive: true, force: true });
  });

  it('/ and the console routes answer index.html, never cached, with a same-origin CSP', async () => {
    for (const path of ['/', '/sessions', '/gateways/', '/audit?x=1']) {
      const r = await get(port, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.body, '<!doctype html><title>console</title>', path);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
  });

  it('hashed assets get their content type and a year of immutable caching; other files no-cache', async () => {
    const js = await get(port, '/assets/index-Ab12Cd34.js');
    assert.equal(js.status, 200);
    assert.equal(js.body, 'console.log(1)');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    const css = await get(port, '/assets/index-Ef56Gh78.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const txt = await get(port, '/robots.txt');
    assert.equal(txt.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(txt.headers['cache-control'], 'no-cache');
  });

  it('precompressed copies: brotli, else gzip, as Accept-Encoding allows; Vary always; identity otherwise', async () => {
    const path = '/assets/index-Ab12Cd34.js';
    const br = await get(port, path, 'GET', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'accept-encoding');
    assert.equal(br.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(brotliDecompressSync(br.bytes).toString(), 'console.log("br")');
    assert.equal(br.headers['content-length'], String(br.bytes.length));
    const gz = await get(port, path, 'GET', { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.bytes).toString(), 'console.log("gz")');
    const refused = await get(port, path, 'GET', { 'accept-encoding': 'br;q=0, gzip;q=0.5' });
    assert.equal(refused.headers['content-encoding'], 'gzip', 'q=0 refuses brotli');
    const plain = await get(port, path);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'accept-encoding');
    assert.equal(plain.body, 'console.log(1)');
    // A file without copies is sent as it is, whatever the browser accepts.
    const css = await get(port, '/assets/index-Ef56Gh78.css', 'GET', { 'accept-encoding': 'br' });
    assert.equal(css.headers['content-encoding'], undefined);
    assert.equal(css.body, 'body{}');
  });

  it('Accept-Encoding is read as RFC 9110 says: q-values, q=0 refusals, the wildcard', () => {
    assert.deepEqual(acceptedEncodings('gzip, deflate, br, zstd'), ['br', 'gzip']);
    assert.deepEqual(acceptedEncodings('GZIP'), ['gzip']);
    assert.deepEqual(acceptedEncodings('*'), ['br', 'gzip']);
    assert.deepEqual(acceptedEncodings('*, br;q=0'), ['gzip']);
    assert.deepEqual(acceptedEncodings('identity'), []);
    assert.deepEqual(acceptedEncodings(undefined), []);
  });

  it('HEAD answers the headers without a body', async () => {
    const r = await get(port, '/assets/index-Ab12Cd34.js', 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.equal(r.headers['content-length'], String('console.log(1)'.length));
  });

  it('no path reaches a file outside the folder', async () => {
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%00',
      '/%E0%A4%A',
    ]) {
      const r = await get(port, path);
      assert.notEqual(r.status, 200, path);
      assert.doesNotMatch(r.body, /TOP SECRET/, path);
    }
  });

  it("a missing file and an unknown path get the API's JSON 404, not index.html", async () => {
    for (const path of ['/assets/nope-123.js', '/nope', '/sessions/extra']) {
      const r = await get(port, path);
      assert.equal(r.status, 404, path);
      assert.equal(
        (JSON.parse(r.body) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
        'NOT_FOUND',
        path,
      );
    }
  });

  it('/graphql and /healthz are untouched', async () => {
    const health = await get(port, '/healthz');
    assert.equal(health.body, '{"status":"ok"}');
    const token = core.addToken('reader', ['sessions:read']);
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { name scopes } }' }),
    });
    assert.deepEqual(await res.json(), { data: { viewer: { name: 'reader', scopes: ['sessions:read'] } } });
    // The console's paths serve GET and HEAD: another method is 405 with Allow, not 404.
    const post = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});

describe('operator console not built', () => {
  it('/ says so plainly; the API still works', async () => {
    const { api, port } = await start(null);
    try {
      const r = await get(port, '/');
      assert.equal(r.status, 404);
      assert.equal(r.body, NOT_BUILT_MESSAGE);
      assert.match(r.body, /npm run build/);
      assert.equal((await get(port, '/healthz')).status, 200);
    } finally {
      await stop(api);
    }
  });
});
