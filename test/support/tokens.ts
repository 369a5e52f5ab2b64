/**
 * Tokens for tests that need a token's id as well as its secret, and a revocation made the way an
 * operator's shell makes it: `switchboard token revoke ID` as its own process, writing the store.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomId } from '../../src/domain/ids.js';
import type { AppHarness } from './app-harness.js';

const run = promisify(execFile);

/** The token's id and secret, created through the API by the bootstrap admin. */
export async function mint(
  h: AppHarness,
  scopes: string[],
  expiresIn: string | null = null,
): Promise<{ id: string; secret: string }> {
  const r = await h.gql('mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret token { id } } }', {
    in: { name: `t-${scopes.join('+')}-${randomId(4)}`, scopes, expiresIn },
  });
  const p = r.json.data?.createToken as { secret: string; token: { id: string } } | undefined;
  if (!p) throw new Error(r.text);
  return { id: p.token.id, secret: p.secret };
}

/** `switchboard token revoke ID` as its own process, on the store at `databaseUrl`. */
export async function cliRevoke(databaseUrl: string, id: string): Promise<void> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('NODE_TEST')) env[k] = v;
  await run(process.execPath, ['bin/switchboard.js', 'token', 'revoke', id], {
    env: { ...env, SWITCHBOARD_DATABASE_URL: databaseUrl },
  });
}
