import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import type { Actor } from '../domain/actor.js';
import { isScope, SCOPES, type Scope } from '../domain/scopes.js';
import { parseDuration, tokenIsActive } from '../domain/token.js';
import { loadConfig } from '../config.js';
import { Switchboard } from '../core/switchboard.js';
import { silentLogger } from '../core/logger.js';
import { createBus, openStoreFor } from '../main.js';
import { UsageError } from './usage-error.js';

function cliActor(): Actor {
  let who = 'unknown';
  try {
    who = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { tokenId: null, name: `cli:${who}`, scopes: ['admin'], clientIp: null, userAgent: 'switchboard-cli' };
}

/** `switchboard token create|list|revoke`: works on the store directly; audited like the API. */
export async function runToken(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const config = loadConfig();
  const store = await openStoreFor(config);
  const bus = await createBus({ natsUrl: null, natsAuth: {} });
  const core = new Switchboard({ store, bus, logger: silentLogger, disconnectDeadlineMs: config.disconnectTimeoutMs, gatewayLivenessMs: config.gatewayLivenessMs });
  try {
    switch (sub) {
      case 'create':
        return await create(core, rest);
      case 'list':
        return await list(core);
      case 'revoke':
        return await revoke(core, rest);
      default:
        throw new UsageError('usage: switchboard token create|list|revoke');
    }
  } finally {
    await bus.close();
    await store.close();
  }
}

/** `token revoke ID [--force]`: `--force` is needed for the last valid admin token. */
async function revoke(core: Switchboard, args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { force: { type: 'boolean', default: false } }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const [id, ...more] = parsed.positionals;
  if (!id || more.length > 0) throw new UsageError('usage: switchboard token revoke ID [--force]');
  const t = await core.revokeToken(cliActor(), id, { force: parsed.values.force }).catch((e: Error) => {
    throw new UsageError(e.message);
  });
  process.stdout.write(`revoked ${t.id} (${t.name})\n`);
  return 0;
}

async function create(core: Switchboard, args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-in': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { name, scope = [], 'expires-in': expiresIn } = parsed.values;
  if (!name) throw new UsageError('token create needs --name NAME');
  if (scope.length === 0) throw new UsageError(`token create needs at least one --scope (${SCOPES.join(', ')})`);
  const bad = scope.find((s) => !isScope(s));
  if (bad) throw new UsageError(`unknown scope '${bad}' (choose from ${SCOPES.join(', ')})`);
  let expiresInMs: number | null = null;
  if (expiresIn !== undefined) {
    expiresInMs = parseDuration(expiresIn);
    if (expiresInMs === null) throw new UsageError(`--expires-in '${expiresIn}' is not a duration like 30d, 12h, 15m or 45s`);
  }
  const { secret } = await core.createToken(cliActor(), { name, scopes: scope as Scope[], expiresInMs });
  process.stdout.write(`${secret}\n`);
  return 0;
}

async function list(core: Switchboard): Promise<number> {
  const tokens = await core.listTokens(cliActor());
  const now = Date.now();
  const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const rows = tokens.map((t) => [
    t.id, t.name, `${t.prefix}…`, t.scopes.join(','),
    t.revokedAt !== null ? 'revoked' : tokenIsActive(t, now) ? 'active' : 'expired',
    iso(t.createdAt), iso(t.expiresAt), iso(t.lastUsedAt),
  ]);
  const header = ['ID', 'NAME', 'PREFIX', 'SCOPES', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  return 0;
}
