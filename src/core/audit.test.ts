/**
 * Audit rows are bounded where they are built: the worst a caller can hand over (megabytes of text,
 * U+0000, lone surrogates, deep and wide metadata) stays under MAX_AUDIT_ROW_BYTES, is stored as built
 * on SQLite and PostgreSQL, and a page of 500 such rows stays small. Values the API accepts are kept whole.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Actor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { startCoreHarness, type CoreHarness } from '../../test/support/core-harness.js';
import { createFreshPostgresDatabase, postgresSkipReason } from '../../test/support/postgres.js';
import { auditEvent, auditRowBytes, bounded, MAX_AUDIT_METADATA_BYTES, MAX_AUDIT_ROW_BYTES } from './audit.js';

const MB = 1024 * 1024;
/** Four bytes of UTF-8 per character, with U+0000, a lone surrogate and quotes mixed in. */
/** No lone surrogate (String.prototype.isWellFormed, which this TypeScript target does not type). */
const wellFormed = (text: string) =>
  !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
const worst = (n: number) => `${'😀'.repeat(n / 2)}\u0000\uD800"\\`;
const HUGE = worst(MB);
const BIG = worst(10_000);

function hostileActor(): Actor {
  return { tokenId: `tok_${HUGE}`, name: HUGE, scopes: ['sessions:read'], ip: HUGE, userAgent: HUGE };
}

/** Shared by every hostile event: strings and objects are only read. */
const HOSTILE_METADATA = (() => {
  let deep: Record<string, unknown> = { leaf: HUGE };
  for (let i = 0; i < 50; i++) deep = { deeper: deep, [`k${i}`]: BIG };
  const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`${'key'.repeat(100)}${i}`, BIG]));
  return { filter: { userName: HUGE, gatewayId: HUGE }, list: Array.from({ length: 100_000 }, () => BIG), deep, wide };
})();

function hostileEvent() {
  return auditEvent(hostileActor(), 'session.bulk_disconnect', 'FORBIDDEN', {
    at: Date.now(),
    targetSessionId: HUGE,
    targetUserName: HUGE,
    targetGatewayId: HUGE,
    reason: HUGE,
    errorCode: HUGE,
    metadata: HOSTILE_METADATA,
  });
}

test('the worst a caller can pass builds a row under 16 KB, with nothing PostgreSQL cannot store', () => {
  const e = hostileEvent();
  assert.ok(auditRowBytes(e) < MAX_AUDIT_ROW_BYTES, `row of ${auditRowBytes(e)} bytes`);
  assert.ok(Buffer.byteLength(JSON.stringify(e.metadata)) <= MAX_AUDIT_METADATA_BYTES);
  const text = JSON.stringify(e);
  assert.ok(!text.includes('\\u0000'), 'no U+0000 left');
  assert.ok(wellFormed(text), 'no lone surrogate left');
  assert.ok(e.reason!.endsWith('…') && e.targetUserName!.endsWith('…'), 'a cut value says it was cut');
});

test('metadata that is too big even once bounded keeps only its keys', () => {
  const many = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'x'.repeat(2000)]));
  const e = auditEvent(hostileActor(), 'token.create', 'SUCCESS', { at: 0, metadata: many });
  assert.deepEqual(e.metadata, { truncated: true, keys: Object.keys(many) });
});

test('values the API accepts are kept whole (longest reason, user name, webhook URL and description, in 3-byte characters)', () => {
  const actor: Actor = {
    tokenId: 'tok_abcdefghijkl',
    name: '名'.repeat(100),
    scopes: ['admin'],
    ip: '::ffff:127.0.0.1',
    userAgent: 'curl/8',
  };
  const metadata = {
    url: `https://example.com/${'a'.repeat(1970)}`,
    description: '説'.repeat(500),
    message: '語'.repeat(240),
    filter: { userName: '人'.repeat(256), gatewayId: 'g'.repeat(63) },
  };
  const e = auditEvent(actor, 'webhook.create', 'SUCCESS', {
    at: 0,
    targetSessionId: 'é'.repeat(64),
    targetUserName: '人'.repeat(256),
    targetGatewayId: 'g'.repeat(63),
    reason: '理'.repeat(1000),
    metadata,
  });
  assert.equal(e.actorName, actor.name);
  assert.equal(e.reason, '理'.repeat(1000));
  assert.equal(e.targetUserName, '人'.repeat(256));
  assert.equal(e.targetSessionId, 'é'.repeat(64));
  assert.deepEqual(e.metadata, metadata);
  assert.ok(auditRowBytes(e) < MAX_AUDIT_ROW_BYTES);
});

test('bounded cuts at a character boundary and never splits a surrogate pair', () => {
  assert.equal(bounded('😀😀😀', 9), '😀…');
  assert.equal(bounded('abc', 3), 'abc');
  assert.equal(bounded('a\u0000b', 10), 'a\uFFFDb');
  for (let n = 4; n < 40; n++) assert.ok(wellFormed(bounded('😀'.repeat(20), n)!));
});

const stores: {
  name: string;
  url: () => Promise<{ url: string; drop(): Promise<void> }>;
  skip?: () => Promise<string | false>;
}[] = [
  {
    name: 'SQLite',
    url: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-audit-'));
      return { url: join(dir, 'core.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  { name: 'PostgreSQL', url: createFreshPostgresDatabase, skip: postgresSkipReason },
];

for (const s of stores) {
  describe(`audit rows as stored (${s.name})`, { skip: (await s.skip?.()) || false }, () => {
    let h: CoreHarness;
    let db: { url: string; drop(): Promise<void> };
    before(async () => {
      db = await s.url();
      h = await startCoreHarness(db.url, { gatewayIds: ['gw-a'] });
    });
    after(async () => {
      await h?.close();
      await db?.drop();
    });

    test('the worst row is stored as built', async () => {
      const e = hostileEvent();
      await h.store.audit.append(e);
      const [stored] = (await h.store.audit.list({ first: 1, filter: { action: 'session.bulk_disconnect' } })).rows;
      assert.deepEqual(stored, e);
      assert.ok(auditRowBytes(stored!) < MAX_AUDIT_ROW_BYTES);
    });

    test('a refused bulk disconnect with a huge filter (as the core sees it, past no gate) writes one bounded row', async () => {
      const before = await h.store.audit.count({});
      const filter = { userName: HUGE, gatewayId: HUGE, clientIp: HUGE, protocol: HUGE, userId: HUGE };
      await assert.rejects(
        h.core.disconnectSessions(hostileActor(), { filter, reason: HUGE, message: HUGE }),
        (e) => e instanceof DomainError && e.code === 'FORBIDDEN',
      );
      assert.equal(await h.store.audit.count({}), before + 1);
      const [row] = (await h.store.audit.list({ first: 1, filter: { outcome: 'FORBIDDEN' } })).rows;
      assert.equal(row?.action, 'session.bulk_disconnect');
      assert.ok(auditRowBytes(row!) < MAX_AUDIT_ROW_BYTES, `row of ${auditRowBytes(row!)} bytes`);
    });

    test('500 of the worst rows: a page of 500 stays under 500 × 16 KB', async () => {
      const one = hostileEvent();
      const rows = Array.from({ length: 500 }, (_, i) => ({
        ...one,
        id: `${one.id.slice(0, 16)}${String(i).padStart(4, '0')}`,
      }));
      await h.store.transaction(async (tx) => {
        for (const e of rows) await tx.audit.append(e);
      });
      const admin: Actor = { tokenId: 'tok_reader', name: 'reader', scopes: ['audit:read'], ip: null, userAgent: null };
      const page = await h.core.auditEvents(admin, { first: 500 });
      assert.equal(page.edges.length, 500);
      const bytes = page.edges.reduce((n, edge) => n + auditRowBytes(edge.node), 0);
      assert.ok(bytes < 500 * MAX_AUDIT_ROW_BYTES, `page of ${bytes} bytes`);
    });
  });
}
