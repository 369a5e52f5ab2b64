import type { Kysely, Selectable } from 'kysely';
import type { Block } from '../../domain/block.js';
import type { BlockRepository } from '../store.js';
import type { BlockTable, Database } from './database.js';

/** Blocks over one Kysely instance or transaction. A row past its `until` is no block; `put` overwrites it. */
export class KyselyBlockRepository implements BlockRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async put(block: Block): Promise<Block> {
    const row = await this.db
      .insertInto('blocks')
      .values({
        gateway_id: block.gatewayId,
        user_name: block.userName,
        until: block.until,
        blocked_at: block.blockedAt,
        blocked_by_token_id: block.blockedByTokenId,
        blocked_by_name: block.blockedByName,
        reason: block.reason,
        message: block.message,
        session_id: block.sessionId,
      })
      .onConflict((oc) =>
        oc.columns(['gateway_id', 'user_name']).doUpdateSet((eb) => ({
          // max() is spelled differently on SQLite and PostgreSQL; CASE is the same on both.
          until: eb
            .case()
            .when('blocks.until', '>', eb.ref('excluded.until'))
            .then(eb.ref('blocks.until'))
            .else(eb.ref('excluded.until'))
            .end(),
          blocked_at: eb.ref('excluded.blocked_at'),
          blocked_by_token_id: eb.ref('excluded.blocked_by_token_id'),
          blocked_by_name: eb.ref('excluded.blocked_by_name'),
          reason: eb.ref('excluded.reason'),
          message: eb.ref('excluded.message'),
          session_id: eb.ref('excluded.session_id'),
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toBlock(row);
  }

  async listActive(now: number, filter: { gatewayId?: string; userName?: string } = {}): Promise<Block[]> {
    let q = this.db.selectFrom('blocks').selectAll().where('until', '>', now);
    if (filter.gatewayId !== undefined) q = q.where('gateway_id', '=', filter.gatewayId);
    if (filter.userName !== undefined) q = q.where('user_name', '=', filter.userName);
    const rows = await q.orderBy('gateway_id').orderBy('user_name').execute();
    return rows.map(toBlock);
  }

  async lift(gatewayId: string, userName: string, now: number): Promise<Block | null> {
    const row = await this.db
      .deleteFrom('blocks')
      .where('gateway_id', '=', gatewayId)
      .where('user_name', '=', userName)
      .returningAll()
      .executeTakeFirst();
    return row && row.until > now ? toBlock(row) : null;
  }
}

function toBlock(r: Selectable<BlockTable>): Block {
  return {
    gatewayId: r.gateway_id,
    userName: r.user_name,
    until: Number(r.until),
    blockedAt: Number(r.blocked_at),
    blockedByTokenId: r.blocked_by_token_id,
    blockedByName: r.blocked_by_name,
    reason: r.reason,
    message: r.message,
    sessionId: r.session_id,
  };
}
