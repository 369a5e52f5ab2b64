/**
 * The store's readiness check (`GET /readyz`): the list of applied migrations is the cheap query, so
 * one round trip answers both "does the database answer" and "is the schema this code's".
 */
import { sql, type Kysely } from 'kysely';
import { isDomainError, errorText } from '../../domain/errors.js';
import type { StoreReadiness } from '../store.js';
import type { Database, DialectName } from './database.js';
import { migrationProvider } from './migrations/migration-provider.js';

/** Kysely's default name for its bookkeeping table. */
const MIGRATION_TABLE = 'kysely_migration';

export class StoreReadinessCheck {
  /**
   * The query in flight. A database behind a black hole never answers; a load balancer probing every
   * second must not take one pool connection per probe, so later checks share the outstanding one.
   */
  private inflight: Promise<string[]> | null = null;
  private expected: string[] | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  async check(timeoutMs: number): Promise<StoreReadiness> {
    this.expected ??= Object.keys(await migrationProvider(this.dialect).getMigrations());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    try {
      const applied = await Promise.race([this.query(), late]);
      if (applied === 'late') return { ok: false, check: 'store', detail: `no answer within ${timeoutMs} ms` };
      const missing = this.expected.filter((id) => !applied.includes(id));
      if (missing.length > 0) return { ok: false, check: 'migrations', detail: `not applied: ${missing.join(', ')}` };
      return { ok: true };
    } catch (e) {
      return failure(e);
    } finally {
      clearTimeout(timer);
    }
  }

  private query(): Promise<string[]> {
    if (this.inflight) return this.inflight;
    const run = sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`
      .execute(this.db)
      .then((r) => r.rows.map((row) => row.name));
    this.inflight = run;
    const clear = () => {
      if (this.inflight === run) this.inflight = null;
    };
    run.then(clear, clear);
    return run;
  }
}

function failure(e: unknown): StoreReadiness {
  const message = errorText(e);
  // No bookkeeping table at all: the database answers, but nothing was ever migrated into it.
  if (message.includes(MIGRATION_TABLE) && /no such table|does not exist/i.test(message)) {
    return { ok: false, check: 'migrations', detail: 'no migration applied' };
  }
  // Never the driver's whole text: an unauthenticated endpoint shows it. The code says enough.
  const cause = isDomainError(e) ? e.cause : e;
  const code = (cause as { code?: unknown } | null)?.code;
  return {
    ok: false,
    check: 'store',
    detail: typeof code === 'string' ? `database unavailable (${code})` : 'database unavailable',
  };
}
