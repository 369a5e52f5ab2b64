import { userInfo } from 'node:os';
import type { Actor } from '../domain/actor.js';
import { isScope, SCOPES, type Scope } from '../domain/scopes.js';
import { parseDuration, tokenIsActive } from '../domain/token.js';
import { loadConfig } from '../config.js';
import { Switchboard } from '../core/switchboard.js';
import { silentLogger } from '../domain/logger.js';
import { createBus } from '../main.js';
import { openCliStore } from './cli-store.js';
import { parseCommand, usageError } from './command-line.js';
import { UsageError } from './usage-error.js';

function cliActor(): Actor {
  let who = 'unknown';
  try {
    who = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { tokenId: null, name: `cli:${who}`, scopes: ['admin'], ip: null, userAgent: 'switchboard-cli' };
}

const TOKEN_USAGE = `Usage: switchboard token <create|list|revoke> [options]

Manages API tokens directly in the store (SWITCHBOARD_DATABASE_URL, the server's store); creating
and revoking are audited like the API's.

Commands:
  create --name NAME --scope SCOPE [--scope SCOPE ...] [--expires-in DURATION]
                  create a token; prints the token alone on stdout (it is shown only this once)
  list            list tokens, never their secrets
  revoke ID [--force]
                  revoke a token; every replica refuses it from its next request

Run 'switchboard token <command> --help' for a command's options.`;

const CREATE = {
  name: 'token create',
  usage: `Usage: switchboard token create --name NAME --scope SCOPE [--scope SCOPE ...] [--expires-in DURATION]

Creates an API token and prints it alone on stdout. Only its hash is stored: keep it now.

Options:
  --name NAME              a name for people (1 to 100 characters)
  --scope SCOPE            ${SCOPES.join(', ')}; repeat for several
  --expires-in DURATION    lifetime such as 30d, 12h, 15m or 45s (default: never expires)
  -h, --help               show this help`,
  options: { name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-in': { type: 'string' } },
} as const;

const LIST = {
  name: 'token list',
  usage: `Usage: switchboard token list

Lists every API token: id, name, display prefix, scopes, status and times; never a secret.

Options:
  -h, --help    show this help`,
  options: {},
} as const;

const REVOKE = {
  name: 'token revoke',
  usage: `Usage: switchboard token revoke ID [--force]

Revokes the token with id ID (tok_…, as \`token list\` shows it); every replica refuses it from its
next request.

Options:
  --force       needed to revoke the last valid admin token
  -h, --help    show this help`,
  options: { force: { type: 'boolean', default: false } },
  positionals: ['the token ID'],
} as const;

/** `switchboard token create|list|revoke`: works on the store directly; audited like the API. */
export async function runToken(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const parsed = parseCommand(CREATE, rest);
      if (parsed === null) return 0;
      const input = createInput(parsed.values);
      return withCore(async (core) => {
        const { secret } = await core.createToken(cliActor(), input);
        process.stdout.write(`${secret}\n`);
        return 0;
      });
    }
    case 'list':
      if (parseCommand(LIST, rest) === null) return 0;
      return withCore(list);
    case 'revoke': {
      const parsed = parseCommand(REVOKE, rest);
      if (parsed === null) return 0;
      const id = parsed.positionals[0]!;
      const force = parsed.values.force === true;
      return withCore(async (core) => {
        const t = await core.revokeToken(cliActor(), id, { force }).catch((e: Error) => {
          throw new UsageError(`token revoke: ${e.message}`);
        });
        process.stdout.write(`revoked ${t.id} (${t.name})\n`);
        return 0;
      });
    }
    case '--help':
    case '-h':
      process.stdout.write(`${TOKEN_USAGE}\n`);
      return 0;
    case undefined:
      throw usageError('token', 'missing command (create, list or revoke)');
    default:
      throw usageError('token', sub.startsWith('-') ? `unknown option '${sub}'` : `unknown command '${sub}'`);
  }
}

/** Opens the store (saying which on stderr), runs `fn` with a core over it, closes everything. */
async function withCore(fn: (core: Switchboard) => Promise<number>): Promise<number> {
  const config = loadConfig();
  const store = await openCliStore(config);
  const bus = await createBus({ natsUrl: null, natsAuth: {} });
  const core = new Switchboard({
    store,
    bus,
    logger: silentLogger,
    disconnectDeadlineMs: config.disconnectTimeoutMs,
    gatewayLivenessMs: config.gatewayLivenessMs,
  });
  try {
    return await fn(core);
  } finally {
    await bus.close();
    await store.close();
  }
}

/** Checks `token create`'s options before anything is opened. */
function createInput(values: { name?: string; scope?: string[]; 'expires-in'?: string }): {
  name: string;
  scopes: Scope[];
  expiresInMs: number | null;
} {
  const { name, scope = [], 'expires-in': expiresIn } = values;
  if (!name) throw new UsageError('token create needs --name NAME');
  if (scope.length === 0) throw new UsageError(`token create needs at least one --scope (${SCOPES.join(', ')})`);
  const bad = scope.find((s) => !isScope(s));
  if (bad) throw new UsageError(`unknown scope '${bad}' (choose from ${SCOPES.join(', ')})`);
  let expiresInMs: number | null = null;
  if (expiresIn !== undefined) {
    expiresInMs = parseDuration(expiresIn);
    if (expiresInMs === null)
      throw new UsageError(`--expires-in '${expiresIn}' is not a duration like 30d, 12h, 15m or 45s`);
  }
  return { name, scopes: scope as Scope[], expiresInMs };
}

async function list(core: Switchboard): Promise<number> {
  const tokens = await core.listTokens(cliActor());
  const now = Date.now();
  const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const rows = tokens.map((t) => [
    t.id,
    t.name,
    `${t.prefix}…`,
    t.scopes.join(','),
    t.revokedAt !== null ? 'revoked' : tokenIsActive(t, now) ? 'active' : 'expired',
    iso(t.createdAt),
    iso(t.expiresAt),
    iso(t.lastUsedAt),
  ]);
  const header = ['ID', 'NAME', 'PREFIX', 'SCOPES', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows])
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}
