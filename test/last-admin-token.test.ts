/**
 * Revoking the last valid admin token takes an explicit force, on SQLite and PostgreSQL, through the
 * API (`force: true`) and the CLI (`--force`): without it the answer is LAST_ADMIN_TOKEN (409) saying
 * why, nothing is revoked and the refusal is audited; with it the token is revoked and the audit row
 * says it was forced. Expired admin tokens do not count as valid; other tokens never need force.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';

const run = promisify(execFile);
const REVOKE = 'mutation ($id: String!, $force: Boolean) { revokeToken(id: $id, force: $force) { id revokedAt } }';

const pgSkip = await postgresSkipReason();
const STORES = [
  {
    name: 'SQLite',
    skip: false as string | false,
    url: async () => ({ url: undefined as string | undefined, drop: async () => {} }),
  },
  { name: 'PostgreSQL', skip: pgSkip, url: createFreshPostgresDatabase },
];

async function mint(
  h: AppHarness,
  scopes: string[],
  token: string,
  expiresIn: string | null = null,
): Promise<{ id: string; secret: string }> {
  const r = await h.gql(
    'mutation ($in: CreateTokenInput!) { createToken(input: $in) { secret token { id } } }',
    { in: { name: `t-${scopes.join('+')}`, scopes, expiresIn } },
    token,
  );
  const p = r.json.data?.createToken as { secret: string; token: { id: string } } | undefined;
  if (!p) throw new Error(r.text);
  return { id: p.token.id, secret: p.secret };
}

async function tokenId(h: AppHarness, secret: string): Promise<string> {
  const r = await h.gql('{ viewer { tokenId } }', {}, secret);
  return (r.json.data!.viewer as { tokenId: string }).tokenId;
}

/**
 * `switchboard token …` as its own process, on the same store. Run from the sources (as `npm run
 * switchboard` does): the bin would first rebuild dist/, which is not what this test is about.
 */
async function cli(databaseUrl: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('NODE_TEST')) env[k] = v;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'token', ...args], {
      env: { ...env, SWITCHBOARD_DATABASE_URL: databaseUrl },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

for (const store of STORES) {
  describe(`the last admin token (${store.name})`, { skip: store.skip }, () => {
    let h: AppHarness;
    let db: { url: string | undefined; drop(): Promise<void> };
    before(async () => {
      db = await store.url();
      h = await startApp({ databaseUrl: db.url });
    });
    after(async () => {
      await h?.close();
      await db?.drop();
    });

    test('API: refused without force, saying why; audited; an expired admin does not count; force revokes it', async () => {
      const bootstrap = await tokenId(h, h.admin);
      const expired = await mint(h, ['admin'], h.admin, '1s');
      const reader = await mint(h, ['sessions:read'], h.admin);
      assert.equal((await h.gql(REVOKE, { id: reader.id })).status, 200, 'a non-admin token needs no force');
      await waitFor(
        async () => (await h.gql('{ viewer { name } }', {}, expired.secret)).status === 401,
        10_000,
        'the 1 s admin token to expire',
      );

      const refused = await h.gql(REVOKE, { id: bootstrap });
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.json.errors?.[0]?.extensions?.code, 'LAST_ADMIN_TOKEN');
      assert.match(refused.json.errors![0]!.message, /last valid admin token.*force: true/);
      assert.equal((await h.gql('{ viewer { name } }')).status, 200, 'the token still works');
      const audit = await h.app.store.audit.list({ first: 1, filter: { action: 'token.revoke' } });
      assert.deepEqual(
        [audit.rows[0]?.outcome, audit.rows[0]?.errorCode, audit.rows[0]?.metadata.tokenId],
        ['FAILED', 'LAST_ADMIN_TOKEN', bootstrap],
      );

      // A second valid admin: no force needed to revoke either one, until one is left.
      const second = await mint(h, ['admin'], h.admin);
      assert.equal((await h.gql(REVOKE, { id: second.id }, h.admin)).status, 200);
      const forced = await h.gql(REVOKE, { id: bootstrap, force: true });
      assert.equal(forced.status, 200, forced.text);
      assert.equal((await h.gql('{ viewer { name } }')).status, 401, 'revoked');
      const last = await h.app.store.audit.list({ first: 1, filter: { action: 'token.revoke', outcome: 'SUCCESS' } });
      assert.deepEqual(last.rows[0]?.metadata, { tokenId: bootstrap, lastAdminToken: true, forced: true });
    });

    test('CLI: revoke of the last valid admin token fails with the reason; --force revokes it', async () => {
      // The previous test left no valid admin: make one with the CLI's store access, then try.
      const created = await cli(h.databaseUrl, ['create', '--name', 'only-admin', '--scope', 'admin']);
      assert.equal(created.code, 0, created.stderr);
      const secret = created.stdout.trim();
      const id = await tokenId(h, secret);
      const refused = await cli(h.databaseUrl, ['revoke', id]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /last valid admin token.*--force/);
      assert.equal((await h.gql('{ viewer { name } }', {}, secret)).status, 200, 'still valid');
      const forced = await cli(h.databaseUrl, ['revoke', id, '--force']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, new RegExp(`revoked ${id}`));
      assert.equal((await h.gql('{ viewer { name } }', {}, secret)).status, 401);
    });
  });
}
