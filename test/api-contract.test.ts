/**
 * The seed's contract and the API's access rules against the whole running Switchboard (real store,
 * real bus, real HTTP), with a gateway test double standing in for the daemon. The real-OpenVPN suite
 * (openvpn-gateway.test.ts) repeats the seed examples against a real gateway.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FakeAdapter } from './support/fake-adapter.js';
import type { SessionReport } from '../src/domain/session.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { withoutLocations } from './support/graphql-body.js';

const run = promisify(execFile);
const SEED_MUTATION =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';
const gw = new FakeAdapter({ id: 'gw-test', name: 'Test gateway', region: 'eu-test' });
let h: AppHarness;

before(async () => {
  h = await startApp({ adapters: [gw] });
});
after(() => h.close());

/** The response body without `locations`, canonical JSON. */
const canonical = withoutLocations;

async function onlineSession(user: string): Promise<string> {
  const r = gw.connect(user);
  return waitFor(async () => (await h.app.store.sessions.findByRef('gw-test', r.ref))?.id, 5000, 'session stored');
}

describe('the seed, example by example', () => {
  test('200: {"data":{"disconnectBySessionId":true}}', async () => {
    const id = await onlineSession('seed-user');
    const r = await h.gql(SEED_MUTATION, { onlineSessionId: id });
    assert.equal(r.status, 200);
    assert.equal(canonical(r.json), '{"data":{"disconnectBySessionId":true}}');
  });

  test('400: Session not found or already disconnected', async () => {
    const expected = JSON.stringify({
      errors: [
        {
          message: 'Session not found or already disconnected',
          path: ['disconnectBySessionId'],
          extensions: { code: 'SESSION_NOT_FOUND' },
        },
      ],
      data: null,
    });
    const unknown = await h.gql(SEED_MUTATION, { onlineSessionId: 'sess_abc123xyz789' });
    assert.equal(unknown.status, 400);
    assert.equal(canonical(unknown.json), expected);
    const id = await onlineSession('seed-twice');
    assert.equal((await h.gql(SEED_MUTATION, { onlineSessionId: id })).status, 200);
    const again = await h.gql(SEED_MUTATION, { onlineSessionId: id });
    assert.equal(again.status, 400);
    assert.equal(canonical(again.json), expected);
  });

  test('403: Admin access required to disconnect sessions', async () => {
    const id = await onlineSession('seed-forbidden');
    const reader = await h.token(['sessions:read']);
    const r = await h.gql(SEED_MUTATION, { onlineSessionId: id }, reader);
    assert.equal(r.status, 403);
    assert.equal(
      canonical(r.json),
      JSON.stringify({
        errors: [
          {
            message: 'Admin access required to disconnect sessions',
            path: ['disconnectBySessionId'],
            extensions: { code: 'FORBIDDEN' },
          },
        ],
        data: null,
      }),
    );
    assert.ok(await h.app.store.sessions.findOnline(id), 'session untouched');
  });

  test('the seed curl, byte for byte (raw body string), also works', async () => {
    const id = await onlineSession('seed-curl');
    const body = `{
    "query": "mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }",
    "variables": {
      "onlineSessionId": "${id}"
    }
  }`;
    const res = await fetch(`${h.url}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${h.admin}` },
      body,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { data: { disconnectBySessionId: true } });
  });
});

describe('scope matrix: every operation × no / malformed / unknown / revoked / expired token / each scope', () => {
  const ops: { name: string; query: string; vars?: Record<string, unknown>; allowed: string[]; okStatus: number }[] = [
    {
      name: 'onlineSessions',
      query: '{ onlineSessions(first: 1) { totalCount } }',
      allowed: ['admin', 'sessions:read', 'sessions:disconnect'],
      okStatus: 200,
    },
    {
      name: 'onlineSession',
      query: '{ onlineSession(id: "sess_000000000000") { id } }',
      allowed: ['admin', 'sessions:read', 'sessions:disconnect'],
      okStatus: 200,
    },
    {
      name: 'gateways',
      query: '{ gateways { id } }',
      allowed: ['admin', 'sessions:read', 'sessions:disconnect'],
      okStatus: 200,
    },
    {
      name: 'auditEvents',
      query: '{ auditEvents(first: 1) { totalCount } }',
      allowed: ['admin', 'audit:read'],
      okStatus: 200,
    },
    { name: 'tokens', query: '{ tokens { id } }', allowed: ['admin'], okStatus: 200 },
    {
      name: 'disconnectBySessionId',
      query: SEED_MUTATION,
      vars: { onlineSessionId: 'sess_000000000000' },
      allowed: ['admin', 'sessions:disconnect'],
      okStatus: 400,
    },
    {
      name: 'disconnectSession',
      query: 'mutation { disconnectSession(input: { sessionId: "sess_000000000000" }) { outcome } }',
      allowed: ['admin', 'sessions:disconnect'],
      okStatus: 400,
    },
    {
      name: 'createToken',
      query: 'mutation { createToken(input: { name: "m", scopes: ["audit:read"] }) { secret } }',
      allowed: ['admin'],
      okStatus: 200,
    },
    {
      name: 'revokeToken',
      query: 'mutation { revokeToken(id: "tok_000000000000") { id } }',
      allowed: ['admin'],
      okStatus: 400,
    },
  ];
  const scopes = ['admin', 'sessions:read', 'sessions:disconnect', 'audit:read'];
  const tokens = new Map<string, string>();
  /** Admin tokens that no longer work: one revoked, one expired. */
  const dead: string[] = [];
  before(async () => {
    for (const s of scopes) tokens.set(s, await h.token([s]));
    const revoked = await h.gql(
      'mutation { createToken(input: { name: "to-revoke", scopes: ["admin"] }) { secret token { id } } }',
    );
    const created = revoked.json.data!.createToken as { secret: string; token: { id: string } };
    assert.equal(
      (await h.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: created.token.id })).status,
      200,
    );
    const expiring = await h.gql(
      'mutation { createToken(input: { name: "to-expire", scopes: ["admin"], expiresIn: "1s" }) { secret } }',
    );
    dead.push(created.secret, (expiring.json.data!.createToken as { secret: string }).secret);
    await new Promise((r) => setTimeout(r, 1100));
  });

  for (const op of ops) {
    test(op.name, async () => {
      // Missing, malformed, unknown, revoked, expired: all the same 401.
      for (const bad of [null, 'garbage', 'sbt_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', ...dead]) {
        const r = await h.gql(op.query, op.vars, bad);
        assert.equal(r.status, 401, `${op.name} with ${bad ?? 'no token'}`);
        assert.equal(r.json.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      }
      for (const scope of scopes) {
        const r = await h.gql(op.query, op.vars, tokens.get(scope));
        if (op.allowed.includes(scope)) {
          assert.equal(r.status, op.okStatus, `${op.name} as ${scope}: ${r.text}`);
          assert.notEqual(r.json.errors?.[0]?.extensions?.code, 'FORBIDDEN');
        } else {
          assert.equal(r.status, 403, `${op.name} as ${scope}: ${r.text}`);
          assert.equal(r.json.errors?.[0]?.extensions?.code, 'FORBIDDEN');
        }
      }
    });
  }
});

describe('token lifecycle through the CLI and the API', () => {
  const cli = (args: string[]) =>
    run(process.execPath, ['bin/switchboard.js', 'token', ...args], {
      env: { ...process.env, SWITCHBOARD_DATABASE_URL: h.databaseUrl },
    });

  test('create prints the token alone; it works; list shows it without the secret; revoke rejects it at once', async () => {
    const { stdout } = await cli(['create', '--name', 'ci-reader', '--scope', 'sessions:read']);
    const secret = stdout.trim();
    assert.match(secret, /^sbt_[a-z0-9]{8}_[a-z0-9]{40}$/);
    assert.equal(stdout, `${secret}\n`, 'nothing else on stdout');
    assert.equal((await h.gql('{ gateways { id } }', {}, secret)).status, 200);
    const listed = (await cli(['list'])).stdout;
    assert.match(listed, /ci-reader/);
    assert.ok(!listed.includes(secret.slice(13)), 'the secret part is never listed');
    const id = /(tok_[a-z0-9]{12})\s+ci-reader/.exec(listed)?.[1];
    assert.ok(id);
    const row = await h.app.store.tokens.findById(id);
    assert.ok(row!.lastUsedAt, 'last_used_at is kept');
    assert.ok(!JSON.stringify(row).includes(secret), 'only a hash is stored');
    await cli(['revoke', id]);
    assert.equal((await h.gql('{ gateways { id } }', {}, secret)).status, 401);
  });

  test('--expires-in sets the expiry exactly; a token works before it and is rejected after it', async () => {
    // Under load the CLI can take longer to exit than a short lifetime lasts, so the clock is read from
    // the stored row, not assumed: a long-lived token shows the "works before", a 1 s one the "after".
    const created = async (name: string, expiresIn: string) => {
      const secret = (
        await cli(['create', '--name', name, '--scope', 'admin', '--expires-in', expiresIn])
      ).stdout.trim();
      const row = (await h.app.store.tokens.list()).find((t) => t.name === name);
      assert.ok(row?.expiresAt, `${name} has an expiry`);
      return { secret, row };
    };
    const long = await created('hour', '1h');
    assert.equal(long.row.expiresAt! - long.row.createdAt, 3_600_000);
    assert.equal((await h.gql('{ gateways { id } }', {}, long.secret)).status, 200);

    const short = await created('short', '1s');
    assert.equal(short.row.expiresAt! - short.row.createdAt, 1_000);
    await waitFor(() => Date.now() > short.row.expiresAt!, 5_000, 'the short token expired');
    const r = await h.gql('{ gateways { id } }', {}, short.secret);
    assert.equal(r.status, 401);
    assert.equal(r.json.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  });

  test('bad CLI input: exit code 2 and a clear message', async () => {
    for (const args of [
      ['create', '--name', 'x', '--scope', 'root'],
      ['create', '--scope', 'admin'],
      ['create', '--name', 'x', '--scope', 'admin', '--expires-in', 'soon'],
      ['revoke', 'tok_nope'],
    ]) {
      const err = await cli(args).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      assert.ok(err, `${args.join(' ')} fails`);
      assert.equal(err.code, 2, args.join(' '));
      // One line of refusal, after the line naming the store when the command had to open it to know.
      assert.match(err.stderr, /^(switchboard: store: .+\n)?switchboard: .+\n$/);
    }
  });

  test('tokens never reach the logs', async () => {
    const secret = await h.token(['admin'], 'log-check');
    await h.gql('{ gateways { id } }', {}, secret);
    const all = h.logs.join('\n');
    assert.ok(!all.includes(secret) && !all.includes(h.admin), 'no token in any log line');
  });
});

describe('concurrency and paging through the API', () => {
  for (const n of [20, 100]) {
    test(`${n} simultaneous disconnects of one session over HTTP: exactly one true, the rest SESSION_NOT_FOUND, all audited`, async () => {
      const id = await onlineSession(`race-${n}`);
      const commandsBefore = gw.commands.length;
      gw.delayMs = 20;
      const replies = await Promise.all(Array.from({ length: n }, () => h.gql(SEED_MUTATION, { onlineSessionId: id })));
      gw.delayMs = 0;
      assert.equal(replies.filter((r) => r.status === 200 && r.json.data?.disconnectBySessionId === true).length, 1);
      assert.equal(
        replies.filter((r) => r.status === 400 && r.json.errors?.[0]?.extensions?.code === 'SESSION_NOT_FOUND').length,
        n - 1,
      );
      assert.equal(gw.commands.length - commandsBefore, 1, 'the gateway was asked once');
      const audit = await h.gql(
        'query ($id: String) { auditEvents(first: 50, filter: { targetSessionId: $id }) { totalCount } }',
        { id },
      );
      // n attempts, plus the winner's intent (PENDING before the gateway was asked), settled by its SUCCESS row.
      assert.equal((audit.json.data?.auditEvents as { totalCount: number }).totalCount, n + 1);
      const success = await h.gql(
        'query ($id: String) { auditEvents(first: 50, filter: { targetSessionId: $id, outcome: SUCCESS }) { totalCount } }',
        { id },
      );
      assert.equal((success.json.data?.auditEvents as { totalCount: number }).totalCount, 1);
    });
  }

  test('paging onlineSessions while sessions come and go: no duplicates, no gaps among survivors', async () => {
    const user = `pager-${Date.now()}`;
    const refs: SessionReport[] = [];
    for (let i = 0; i < 30; i++) refs.push(gw.connect(user));
    await waitFor(async () => (await h.app.store.sessions.countOnline({ userName: user })) === 30, 5000, '30 sessions');
    const seen: string[] = [];
    let after: string | null = null;
    let round = 0;
    for (;;) {
      const r = await h.gql(
        'query ($after: String, $u: String) { onlineSessions(first: 7, after: $after, filter: { userName: $u }) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }',
        { after, u: user },
      );
      const c = r.json.data!.onlineSessions as {
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
      seen.push(...c.edges.map((e) => e.node.id));
      // churn between pages: a new session arrives (newer, so before the cursor) and an old one leaves
      gw.connect(user);
      if (round < refs.length) gw.quit(refs[refs.length - 1 - round]!.ref);
      round++;
      await h.settle();
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    const survivors = await h.app.store.sessions.listOnline({ first: 500, filter: { userName: user } });
    const oldSurvivors = survivors.rows.filter((s) => refs.some((r) => r.ref === s.ref));
    for (const s of oldSurvivors) assert.ok(seen.includes(s.id), 'every session online throughout was seen');
  });
});
