/**
 * A token's authority on the long-lived transports, against a real server on SQLite and PostgreSQL:
 * each WebSocket operation is authorised when it starts, and a revocation (API or CLI) or an expiry
 * closes the token's sockets (4401) and ends its SSE streams (a coded UNAUTHENTICATED event).
 * Closes are awaited as events with a generous bound; nothing here measures time.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createFreshPostgresDatabase, postgresSkipReason } from './support/postgres.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { cliRevoke, mint } from './support/tokens.js';
import { sseSubscribe, wsSubscribe } from './support/subscription-clients.js';
import { openWsSession } from './support/ws-session.js';
import { openStore } from '../src/store/kysely/kysely-store.js';

const EVENTS = 'subscription { sessionEvents { type session { id user { name } clientAddress } } }';
const MINT = 'mutation ($name: String!) { createToken(input: { name: $name, scopes: ["admin"] }) { secret } }';
/** Far longer than any test: the token watch never re-reads on its own, so only per-operation checks act. */
const NO_POLL_MS = 3_600_000;
const CLOSE_BOUND_MS = 10_000;

const pgSkip = await postgresSkipReason();
const STORES = [
  {
    name: 'SQLite',
    skip: false as string | false,
    url: async () => ({ url: undefined as string | undefined, drop: async () => {} }),
  },
  { name: 'PostgreSQL', skip: pgSkip, url: createFreshPostgresDatabase },
];

/** Revokes through a store connection of its own, writing no event: nothing but the row changes. */
async function silentRevoke(databaseUrl: string, id: string): Promise<void> {
  const other = await openStore(databaseUrl);
  try {
    assert.equal(await other.tokens.revoke(id, Date.now()), true);
  } finally {
    await other.close();
  }
}

async function tokenNames(h: AppHarness): Promise<string[]> {
  const r = await h.gql('{ tokens { name } }');
  return (r.json.data!.tokens as { name: string }[]).map((t) => t.name);
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer!: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), CLOSE_BOUND_MS)),
    ),
  ]).finally(() => clearTimeout(timer));
}

for (const store of STORES) {
  describe(`WebSocket and SSE authority follow the token (${store.name})`, { skip: store.skip }, () => {
    let db: { url: string | undefined; drop(): Promise<void> };
    let h: AppHarness;
    let still: AppHarness;

    before(async () => {
      db = await store.url();
      h = await startApp({ databaseUrl: db.url });
    });
    after(async () => {
      await still?.close();
      await h?.close();
      await db?.drop();
    });

    test('a revoked admin socket cannot mint a token: it is closed with 4401, and nothing was minted', async () => {
      const admin2 = await mint(h, ['admin']);
      const s = await openWsSession(h.url, admin2.secret);
      try {
        const ok = await s.run(MINT, { name: 'before-revoke' });
        assert.match(String((ok.data?.createToken as { secret?: string })?.secret), /^sbt_/, JSON.stringify(ok));
        const r = await h.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: admin2.id });
        assert.equal(r.status, 200, r.text);
        assert.equal(await within(s.closed, 'the socket to close'), 4401);
        const after = await s.run(MINT, { name: 'after-revoke' });
        assert.equal(after.data?.createToken, undefined);
        assert.ok(!(await tokenNames(h)).includes('after-revoke'));
      } finally {
        await s.dispose();
      }
    });

    test('a revoked read-only token: its open subscriptions end on both transports, it cannot start another', async () => {
      const reader = await mint(h, ['sessions:read']);
      const ws = await wsSubscribe(h.url, EVENTS, {}, { token: reader.secret });
      const sse = await sseSubscribe(h.url, EVENTS, {}, reader.secret);
      try {
        assert.equal(ws.closeCode, null);
        await h.gql('mutation ($id: String!) { revokeToken(id: $id) { id } }', { id: reader.id });
        await waitFor(() => ws.closeCode !== null && sse.completed, CLOSE_BOUND_MS, 'both streams to end');
        assert.equal(ws.closeCode, 4401);
        assert.deepEqual(sse.errors, [
          [{ message: 'The API token was revoked', extensions: { code: 'UNAUTHENTICATED', reason: 'TOKEN_REVOKED' } }],
        ]);
        const again = await wsSubscribe(h.url, EVENTS, {}, { token: reader.secret });
        assert.equal(again.closeCode, 4403, 'a new socket is refused at connection_init');
        const sseAgain = await sseSubscribe(h.url, EVENTS, {}, reader.secret);
        assert.equal(sseAgain.status, 401);
        await Promise.all([again.close(), sseAgain.close()]);
      } finally {
        await Promise.all([ws.close(), sse.close()]);
      }
    });

    test('an expired token: its socket is closed with 4401 and its SSE stream ends with TOKEN_EXPIRED', async () => {
      const shortLived = await mint(h, ['sessions:read'], '2s');
      const ws = await wsSubscribe(h.url, EVENTS, {}, { token: shortLived.secret });
      const sse = await sseSubscribe(h.url, EVENTS, {}, shortLived.secret);
      try {
        assert.equal(ws.closeCode, null, 'open while the token is valid');
        await waitFor(() => ws.closeCode !== null && sse.completed, CLOSE_BOUND_MS, 'both streams to end at expiry');
        assert.equal(ws.closeCode, 4401);
        assert.deepEqual(sse.errors, [
          [{ message: 'The API token has expired', extensions: { code: 'UNAUTHENTICATED', reason: 'TOKEN_EXPIRED' } }],
        ]);
      } finally {
        await Promise.all([ws.close(), sse.close()]);
      }
    });

    test('a revocation by the CLI process, which writes the store directly, closes the socket and ends the SSE stream', async () => {
      const reader = await mint(h, ['sessions:read']);
      const ws = await wsSubscribe(h.url, EVENTS, {}, { token: reader.secret });
      const sse = await sseSubscribe(h.url, EVENTS, {}, reader.secret);
      try {
        await cliRevoke(db.url ?? h.databaseUrl, reader.id);
        await waitFor(() => ws.closeCode !== null && sse.completed, CLOSE_BOUND_MS, 'both streams to end');
        assert.equal(ws.closeCode, 4401);
        assert.equal((sse.errors[0] as { extensions: { reason: string } }[])[0]!.extensions.reason, 'TOKEN_REVOKED');
      } finally {
        await Promise.all([ws.close(), sse.close()]);
      }
    });

    test('each operation is checked when it starts, even before the socket is closed', async () => {
      // A second server on the same store that never re-reads tokens on its own: whatever refuses the
      // operations below is the per-operation check.
      still = await startApp({ databaseUrl: db.url ?? h.databaseUrl, tokenPollMs: NO_POLL_MS });
      const admin2 = await mint(h, ['admin']); // one store: a token minted through h works on `still`
      const shortLived = await mint(h, ['admin'], '2s');
      const revoked = await openWsSession(still.url, admin2.secret);
      const expiring = await openWsSession(still.url, shortLived.secret);
      try {
        assert.ok(revoked.acknowledged && expiring.acknowledged);
        // A revocation written by another connection that announces it nowhere (an operator's SQL; the
        // CLI's, too, until the relay publishes its event): SQLite's read cache sees the commit at
        // once; on PostgreSQL a mutation reads the token's row before it runs.
        await silentRevoke(db.url ?? still.databaseUrl, admin2.id);
        const minted = await revoked.run(MINT, { name: 'minted-after-silent-revoke' });
        assert.equal(minted.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(minted));
        assert.equal(await within(revoked.closed, 'the socket to close'), 4401);
        // The token's expiry is judged at the operation's start.
        await waitFor(
          async () => (await still.gql('{ viewer { name } }', {}, shortLived.secret)).status === 401,
          CLOSE_BOUND_MS,
          'the token to expire',
        );
        const r = await expiring.run(MINT, { name: 'minted-after-expiry' });
        assert.equal(r.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(r));
        assert.equal(await within(expiring.closed, 'the socket to close'), 4401);
        const names = await tokenNames(h);
        assert.ok(!names.includes('minted-after-silent-revoke') && !names.includes('minted-after-expiry'));
      } finally {
        await Promise.all([revoked.dispose(), expiring.dispose()]);
      }
    });
  });
}
