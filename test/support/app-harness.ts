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
