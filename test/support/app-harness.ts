/**
 * Starts the whole single-host Switchboard (real store, in-process bus, sync, agents, HTTP API) on an
 * ephemeral port, exactly as `switchboard start` composes it, and gives tests a GraphQL client.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, startSwitchboard, type RunningSwitchboard } from '../../src/main.js';
import type { GatewayAdapter } from '../../src/gateways/adapter.js';
import { apiClient, type Gql } from './api-client.js';
import { waitFor } from './wait.js';

export interface AppHarness {
  app: RunningSwitchboard;
  url: string;
  dir: string;
  databaseUrl: string;
  /** The bootstrap admin token printed at first start. */
  admin: string;
  logs: string[];
  /** As the bootstrap admin, or as `token` (null: none). */
  gql: Gql;
  /** Creates a token through the API with the given scopes; returns its secret. */
  token(scopes: string[], name?: string): Promise<string>;
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function startApp(
  options: {
    adapters?: GatewayAdapter[];
    env?: Record<string, string>;
    databaseUrl?: string;
    tokenPollMs?: number;
    /**
     * Wait until every adapter's link to its daemon is up before returning (default true). An
     * OpenVPN daemon in authorize mode sends a client's `>CLIENT:CONNECT` only to a management client
     * that is linked (and past its password); one sent before is lost, and the client waits until the
     * adapter has linked and restarted it (2 s and more). Set false where a gateway is meant to be down at start.
     */
    linked?: boolean;
  } = {},
): Promise<AppHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-app-'));
  const databaseUrl = options.databaseUrl ?? join(dir, 'switchboard.db');
  const config: Config = loadConfig({ SWITCHBOARD_PORT: '0', SWITCHBOARD_DATABASE_URL: databaseUrl, ...options.env });
  const logs: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  let admin = '';
  const app = await startSwitchboard(config, {
    logger,
    adapters: options.adapters,
    onBootstrapToken: (s) => (admin = s),
    tokenPollMs: options.tokenPollMs,
  });
  const gql = apiClient(app.url, admin);
  if (options.linked ?? true) {
    const adapters = options.adapters ?? [];
    await waitFor(
      () => adapters.every((a) => a.isConnected()),
      15_000,
      () =>
        `the link of ${adapters
          .filter((a) => !a.isConnected())
          .map((a) => a.config.id)
          .join(', ')} at start (pass linked: false for a gateway meant to be down)`,
    ).catch(async (e: unknown) => {
      await app.close();
      throw e;
    });
  }
  return {
    app,
    url: app.url,
    dir,
    databaseUrl,
    admin,
    logs,
    gql,
    async token(scopes, name = scopes.join('+') || 'none') {
      const r = await gql('mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret } }', {
        in: { name, scopes },
      });
      const secret = (r.json.data?.createToken as { secret?: string } | undefined)?.secret;
      if (!secret) throw new Error(`createToken failed: ${r.text}`);
      return secret;
    },
    async settle() {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setImmediate(r));
        await app.sync.idle();
      }
    },
    close: () => app.close(),
  };
}
