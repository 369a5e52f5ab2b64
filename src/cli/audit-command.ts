import type { Writable } from 'node:stream';
import type { Actor } from '../domain/actor.js';
import type { AuditEvent } from '../domain/audit.js';
import { loadConfig } from '../config.js';
import { Switchboard } from '../core/switchboard.js';
import { silentLogger } from '../domain/logger.js';
import { createBus } from '../main.js';
import { openCliStore } from './cli-store.js';
import { parseCommand, usageError } from './command-line.js';
import { UsageError } from './usage-error.js';

const PAGE = 500;
const CLI_ACTOR: Actor = {
  tokenId: null,
  name: 'cli:audit-export',
  scopes: ['audit:read'],
  ip: null,
  userAgent: 'switchboard-cli',
};

/** One audit event as an export line: the stored record, its time as ISO-8601 (UTC, milliseconds). */
export function auditLine(e: AuditEvent): string {
  return JSON.stringify({ ...e, at: new Date(e.at).toISOString() });
}

function instant(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`${flag} '${value}' is not an ISO-8601 date-time (e.g. 2026-01-31T00:00:00Z)`);
  return ms;
}

/**
 * `switchboard audit export [--since ISO] [--until ISO]`: every audit event with since <= at < until,
 * newest first, one JSON object per line on stdout. Reads the store directly, page by page (keyset),
 * so memory stays flat however long the trail is.
 */
const AUDIT_USAGE = `Usage: switchboard audit export [--since ISO] [--until ISO] [--request-id ID]

Commands:
  export    write audit events as JSON lines on stdout

Run 'switchboard audit export --help' for its options.`;

const EXPORT = {
  name: 'audit export',
  usage: `Usage: switchboard audit export [--since ISO] [--until ISO] [--request-id ID]

Writes every audit event with since <= at < until, newest first, one JSON object per line on
stdout, read page by page from the store (SWITCHBOARD_DATABASE_URL).

Options:
  --since ISO    earliest time, ISO-8601 (e.g. 2026-11-01T00:00:00Z); default: the beginning
  --until ISO    end time, not included; default: now and later
  --request-id ID  only the events of the request with this id (its x-request-id)
  -h, --help     show this help`,
  options: { since: { type: 'string' }, until: { type: 'string' }, 'request-id': { type: 'string' } },
} as const;

export async function runAudit(args: string[], out: Writable = process.stdout): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(`${AUDIT_USAGE}\n`);
    return 0;
  }
  if (sub === undefined) throw usageError('audit', 'missing command (export)');
  if (sub !== 'export')
    throw usageError('audit', sub.startsWith('-') ? `unknown option '${sub}'` : `unknown command '${sub}'`);
  const parsed = parseCommand(EXPORT, rest);
  if (parsed === null) return 0;
  const { values } = parsed;
  const since = instant('--since', values.since);
  const until = instant('--until', values.until);
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
    let after: string | null = null;
    for (;;) {
      const page = await core.auditEvents(CLI_ACTOR, {
        first: PAGE,
        after,
        filter: { since, until, requestId: values['request-id'] },
      });
      const text = page.edges.map((edge) => `${auditLine(edge.node)}\n`).join('');
      // Respect back-pressure: a slow pipe must not make the whole trail pile up in memory.
      if (text !== '' && !out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
      if (!page.pageInfo.hasNextPage) return 0;
      after = page.pageInfo.endCursor;
    }
  } finally {
    await bus.close();
    await store.close();
  }
}
