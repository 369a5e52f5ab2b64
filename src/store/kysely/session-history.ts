import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { Session } from '../../domain/session.js';
import type { Keyset, Page, SessionHistoryFilter } from '../store.js';
import type { Database } from './database.js';
import { pageLimit, toPage } from './page.js';
import { addressMatching, toSession, type Sessions } from './session-columns.js';

/**
 * Sessions online and ended, newest first by keyset (connected_at desc, id desc). A user's or an
 * address's history reads an index in that order over every row (the session-history migration), so
 * a page costs the same however many sessions have ended; a gateway's, or everyone's, walks the
 * time index and stops at the page's end.
 */
export async function listHistory(
  db: Kysely<Database>,
  args: { first: number; after?: Keyset | null; filter?: SessionHistoryFilter },
): Promise<Page<Session>> {
  const { after } = args;
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where((eb) => eb.and(historyMatching(eb, args.filter)))
    .$if(!!after, (qb) => qb.where((eb) => eb(eb.refTuple('connected_at', 'id'), '<', eb.tuple(after!.at, after!.id))))
    .orderBy('connected_at', 'desc')
    .orderBy('id', 'desc')
    .limit(pageLimit(args.first))
    .execute();
  return toPage(rows.map(toSession), args.first);
}

export async function countHistory(db: Kysely<Database>, filter?: SessionHistoryFilter): Promise<number> {
  const row = await db
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.and(historyMatching(eb, filter)))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Every set field of the filter, ANDed by the caller. */
function historyMatching(eb: Sessions, filter: SessionHistoryFilter | undefined): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  if (!filter) return conditions;
  // lower() on both sides, so each database folds the name and the column alike (and the
  // expression index on lower(user_name) serves it).
  if (filter.userName !== undefined) conditions.push(sql<SqlBool>`lower(user_name) = lower(${filter.userName})`);
  if (filter.address !== undefined) conditions.push(addressMatching(eb, filter.address));
  if (filter.gatewayId !== undefined) conditions.push(eb('gateway_id', '=', filter.gatewayId));
  if (filter.sessionId !== undefined) conditions.push(eb('id', '=', filter.sessionId));
  if (filter.ended !== undefined) conditions.push(eb('ended_at', filter.ended ? 'is not' : 'is', null));
  return conditions;
}
