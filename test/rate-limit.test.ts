/**
 * Rate limits through the whole running server: per API token and per client IP, with 429,
 * `Retry-After` and RATE_LIMITED; requests without a valid token count against their IP's bucket, so
 * guessing tokens is limited too. Limits are small (one request per 1 000 s after the burst) so that a
 * handful of requests reaches them whatever the machine's speed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { FakeAdapter } from './support/fake-adapter.js';
import { postGraphql } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { assertNoSecrets } from './support/secret-scan.js';

const QUERY = '{ gateways { id } }';
const apps: AppHarness[] = [];
after(() => Promise.all(apps.map((a) => a.close())));

async function post(
  h: AppHarness,
  token: string | null,
): Promise<{ status: number; retryAfter: string | null; code: string | undefined }> {
  const res = await postGraphql(h.url, { query: QUERY }, { token });
  const json = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: json.errors?.[0]?.extensions?.code };
}

test('per token: the burst passes, the next request gets 429 RATE_LIMITED with Retry-After; another token is still served', async () => {
  const h = await startApp({
    adapters: [new FakeAdapter({ id: 'gw-rl1' })],
    env: { SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0.001:6', SWITCHBOARD_RATE_LIMIT_PER_IP: '0' },
  });
  apps.push(h);
  const reader = await h.token(['sessions:read']); // the admin spent one request here
  for (let i = 0; i < 6; i++) assert.equal((await post(h, reader)).status, 200, `request ${i + 1} of the burst`);
  const limited = await post(h, reader);
  assert.equal(limited.status, 429);
  assert.equal(limited.code, 'RATE_LIMITED');
  assert.ok(Number(limited.retryAfter) >= 1, `Retry-After: ${limited.retryAfter}`);
  assert.equal((await post(h, h.admin)).status, 200, 'the admin token has its own bucket');
  const health = await fetch(`${h.url}/healthz`);
  assert.equal(health.status, 200, '/healthz is never limited');
});

test('per IP: requests with no, garbage or unknown tokens use up the IP bucket, then even a valid token waits', async () => {
  const h = await startApp({
    adapters: [new FakeAdapter({ id: 'gw-rl2' })],
    env: { SWITCHBOARD_RATE_LIMIT_PER_TOKEN: '0', SWITCHBOARD_RATE_LIMIT_PER_IP: '0.001:12' },
  });
  apps.push(h);
  const guesses = [null, 'garbage', 'sbt_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'];
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await post(h, guesses[i % 3]!)).status);
  assert.deepEqual(statuses, Array(12).fill(401), 'each guess is answered 401 while the bucket lasts');
  const guess = await post(h, 'sbt_cccccccc_dddddddddddddddddddddddddddddddddddddddd');
  assert.equal(guess.status, 429, 'the next guess is refused before its token is checked');
  assert.equal(guess.code, 'RATE_LIMITED');
  assert.ok(Number(guess.retryAfter) >= 1);
  const valid = await post(h, h.admin);
  assert.equal(valid.status, 429, 'the IP is limited whatever the token');
  assert.ok(
    !h.logs.some((l) => (JSON.parse(l) as { level: number }).level >= 50),
    'being limited is not an error of the server',
  );
  assertNoSecrets(
    h.logs,
    [
      h.admin,
      ...guesses.filter((g): g is string => g !== null),
      'sbt_cccccccc_dddddddddddddddddddddddddddddddddddddddd',
    ],
    'rate-limit suite',
  );
});
