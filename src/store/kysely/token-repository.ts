import { sql, type Kysely, type Selectable } from 'kysely';
import type { Scope } from '../../domain/scopes.js';
import type { ApiToken } from '../../domain/token.js';
import type { TokenRepository } from '../store.js';
import type { ApiTokenTable, Database, DialectName } from './database.js';

/** API tokens over one Kysely instance or transaction. Only the hash of a secret is ever stored. */
export class KyselyTokenRepository implements TokenRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  async insert(token: ApiToken): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: token.id,
        name: token.name,
        prefix: token.prefix,
        secret_hash: token.secretHash,
        scopes: JSON.stringify(token.scopes),
        created_at: token.createdAt,
        expires_at: token.expiresAt,
        revoked_at: token.revokedAt,
        last_used_at: token.lastUsedAt,
      })
      .execute();
  }

  async findById(id: string): Promise<ApiToken | null> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async findByPrefix(prefix: string): Promise<ApiToken[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('prefix', '=', prefix)
      .orderBy('id')
      .execute();
    return rows.map(toToken);
  }

  async findByIds(ids: readonly string[]): Promise<ApiToken[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', 'in', [...ids])
      .execute();
    return rows.map(toToken);
  }

  /** Newest first. */
  async list(): Promise<ApiToken[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toToken);
  }

  async listLocked(): Promise<ApiToken[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('id')
      .$if(this.dialect === 'postgres', (qb) => qb.forUpdate())
      .execute();
    return rows.map(toToken);
  }

  async lockTokenSet(): Promise<void> {
    if (this.dialect !== 'postgres') return;
    await sql`SELECT pg_advisory_xact_lock(hashtext('switchboard.api_tokens'))`.execute(this.db);
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Never moves last_used_at backwards, so touches that land out of order are harmless. */
  async touch(id: string, at: number): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}

function toToken(r: Selectable<ApiTokenTable>): ApiToken {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    secretHash: r.secret_hash,
    scopes: JSON.parse(r.scopes) as Scope[],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}
