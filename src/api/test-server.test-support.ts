/**
 * Starts the real API server on an ephemeral loopback port, in front of a FakeCore, with a logger
 * whose every line is captured for assertions.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { postGraphql } from '../../test/support/api-client.js';
import { FakeCore } from './fake-core.test-support.js';
import { createApiServer } from './http-server.js';

export interface TestServer {
  url: string;
  core: FakeCore;
  /** An admin token's secret. */
  admin: string;
  /** Every log line the server wrote (JSON text). */
  logs: string[];
  /** POSTs a GraphQL request as JSON with the admin token (or `token`, or none when null). */
  gql(body: unknown, options?: { token?: string | null; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function toReply(res: globalThis.Response): Promise<Reply> {
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON; tests that care look at text
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function startTestServer(
  options: { core?: FakeCore; bodyLimitBytes?: number; jit?: boolean; uiDir?: string | null } = {},
): Promise<TestServer> {
  const core = options.core ?? new FakeCore();
  const logs: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
  const api = createApiServer({
    core,
    logger,
    bodyLimitBytes: options.bodyLimitBytes,
    jit: options.jit,
    uiDir: options.uiDir,
  });
  const address: AddressInfo = await api.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${address.port}`;
  const admin = core.addToken('test admin', ['admin']);
  return {
    url,
    core,
    admin,
    logs,
    async gql(body, opts = {}) {
      return toReply(
        await postGraphql(url, body, { token: opts.token === undefined ? admin : opts.token, headers: opts.headers }),
      );
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        api.server.closeAllConnections();
        api.server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
