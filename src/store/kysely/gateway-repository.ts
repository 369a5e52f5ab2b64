import {
  sql,
  type ExpressionBuilder,
  type Kysely,
  type OnConflictUpdateDatabase,
  type OnConflictTables,
  type Selectable,
} from 'kysely';
import type { Gateway, GatewayMode, Protocol } from '../../domain/gateway.js';
import type { GatewayRepository, GatewayUpsert } from '../store.js';
import type { Database, GatewayTable } from './database.js';
import { Precompiled } from './precompiled.js';
import { statements } from './statements.js';

/** Gateways over one Kysely instance or transaction. */
export class KyselyGatewayRepository implements GatewayRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The config file owns name, region, protocol and mode; agent status is left as it is, and so are
   * the capabilities unless given (an agent's report gives them; the config file does not). A row
   * that holds these values already is not rewritten (every replica upserts the gateway with every
   * snapshot chunk it applies): on PostgreSQL it is still locked until the transaction ends, which
   * is what orders replicas' snapshot chunks (see SnapshotApplier).
   */
  async upsert(gateway: GatewayUpsert): Promise<void> {
    const caps = capabilities(gateway);
    await this.db
      .insertInto('gateways')
      .values({
        ...descriptorRow(gateway, caps),
        agent_connected: 0,
        last_seen_at: null,
        daemon_started_at: null,
      })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => descriptorUpdate(eb, caps !== null))
          .where(
            sql<boolean>`gateways.name is distinct from excluded.name or gateways.region is distinct from excluded.region
            or gateways.protocol is distinct from excluded.protocol or gateways.mode is distinct from excluded.mode${
              caps
                ? sql` or gateways.can_block is distinct from excluded.can_block or gateways.warning is distinct from excluded.warning`
                : sql``
            }`,
          ),
      )
      .execute();
  }

  async recordHeartbeat(
    gateway: GatewayUpsert,
    status: { agentConnected: boolean; lastSeenAt: number; daemonResponding: boolean },
  ): Promise<boolean> {
    const caps = capabilities(gateway);
    const values: HeartbeatValues = {
      ...descriptorRow(gateway, caps),
      agent_connected: status.agentConnected ? 1 : 0,
      last_seen_at: status.lastSeenAt,
      daemon_responding: status.daemonResponding ? 1 : 0,
    };
    const r = await (caps ? HEARTBEAT_WITH_CAPABILITIES : HEARTBEAT).execute(this.db, values);
    return (r.numAffectedRows ?? 0n) > 0n;
  }

  async setRemoved(id: string, at: number | null): Promise<void> {
    await this.db
      .updateTable('gateways')
      .set({ removed_at: at })
      .where('id', '=', id)
      .where(at === null ? sql<boolean>`removed_at is not null` : sql<boolean>`removed_at is null`)
      .execute();
  }

  async findById(id: string): Promise<Gateway | null> {
    const row = await this.db.selectFrom('gateways').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toGateway(row) : null;
  }

  async claimSnapshot(gatewayId: string, snapshot: string): Promise<boolean> {
    const r = await this.db
      .updateTable('gateways')
      .set({ last_snapshot: snapshot })
      .where('id', '=', gatewayId)
      .where((eb) => eb.or([eb('last_snapshot', 'is', null), eb('last_snapshot', '!=', snapshot)]))
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async findByIds(ids: readonly string[]): Promise<Gateway[]> {
    if (ids.length === 0) return [];
    const found: Gateway[] = [];
    for (const part of statements([...ids], 1)) {
      const rows = await this.db.selectFrom('gateways').selectAll().where('id', 'in', part).execute();
      for (const r of rows) found.push(toGateway(r));
    }
    return found;
  }

  async list(): Promise<Gateway[]> {
    const rows = await this.db
      .selectFrom('gateways')
      .selectAll()
      .where('removed_at', 'is', null)
      .orderBy('id')
      .execute();
    return rows.map(toGateway);
  }

  /**
   * `daemonStartedAt` undefined keeps the stored value; null clears it. `daemonResponding` undefined
   * keeps it. `status_since` moves to `lastSeenAt` only when the link state or responding changes
   * (compared with the stored values in the same statement, so replicas applying one report agree).
   */
  async setAgentStatus(
    id: string,
    status: {
      agentConnected: boolean;
      lastSeenAt: number;
      daemonStartedAt?: number | null;
      daemonResponding?: boolean;
    },
  ): Promise<void> {
    const linked = status.agentConnected ? 1 : 0;
    const responding = status.daemonResponding === undefined ? null : status.daemonResponding ? 1 : 0;
    const changed =
      responding === null
        ? sql`agent_connected <> ${linked}`
        : sql`agent_connected <> ${linked} OR daemon_responding <> ${responding}`;
    await this.db
      .updateTable('gateways')
      .set({
        status_since: sql<number>`CASE WHEN status_since IS NULL OR ${changed} THEN ${status.lastSeenAt} ELSE status_since END`,
        agent_connected: linked,
        last_seen_at: status.lastSeenAt,
        ...(status.daemonStartedAt !== undefined ? { daemon_started_at: status.daemonStartedAt } : {}),
        ...(status.daemonResponding !== undefined ? { daemon_responding: status.daemonResponding ? 1 : 0 } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * A problem with the gateway's daemon link. While the same error repeats and the gateway has not
   * been healthy in between, its first time is kept: "since when" stays true across retries.
   */
  async recordError(id: string, error: string, at: number): Promise<void> {
    await this.db
      .updateTable('gateways')
      .set({
        last_error_at: sql<number>`CASE WHEN last_error = ${error} AND last_error_at IS NOT NULL AND NOT (agent_connected = 1 AND daemon_responding = 1) THEN last_error_at ELSE ${at} END`,
        last_error: error,
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Gateways without online sessions are absent from the map (read them as 0). Sums the counter rows
   * the triggers on `sessions` keep, rather than counting the online sessions.
   */
  async onlineCounts(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('session_online_counts')
      .select((eb) => ['gateway_id', eb.fn.sum<number>('n').as('n')])
      .groupBy('gateway_id')
      .having((eb) => eb.fn.sum('n'), '<>', 0)
      .execute();
    return new Map(rows.map((r) => [r.gateway_id, Number(r.n)]));
  }
}

type Capabilities = { can_block: number; warning: string | null } | null;

/** The values of `recordHeartbeat`'s statement. */
type HeartbeatValues = ReturnType<typeof descriptorRow> & {
  agent_connected: number;
  last_seen_at: number;
  daemon_responding: number;
};

/**
 * `recordHeartbeat`'s upsert, the store's most frequent statement on a fleet (every agent's beat, on
 * every replica): compiled once, with the capabilities (`caps`) or without them (left as stored).
 */
function heartbeatStatement(caps: boolean) {
  return new Precompiled((db, v: HeartbeatValues) =>
    db
      .insertInto('gateways')
      .values({ ...v, daemon_started_at: null, status_since: v.last_seen_at })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            ...descriptorUpdate(eb, caps),
            // As setAgentStatus: the stored values are the row's before this statement.
            status_since: sql<number>`CASE WHEN gateways.status_since IS NULL OR gateways.agent_connected <> ${v.agent_connected}
            OR gateways.daemon_responding <> ${v.daemon_responding} THEN ${v.last_seen_at} ELSE gateways.status_since END`,
            agent_connected: eb.ref('excluded.agent_connected'),
            last_seen_at: eb.ref('excluded.last_seen_at'),
            daemon_responding: eb.ref('excluded.daemon_responding'),
          }))
          // A gateway a control plane's reload removed: its agent's beat writes nothing (see setRemoved).
          .where(sql<boolean>`gateways.removed_at is null`),
      ),
  );
}
const HEARTBEAT = heartbeatStatement(false);
const HEARTBEAT_WITH_CAPABILITIES = heartbeatStatement(true);

/** Capabilities as columns, or null when not given (the config file's upsert keeps the stored ones). */
function capabilities(gateway: GatewayUpsert): Capabilities {
  return gateway.canBlock === undefined
    ? null
    : { can_block: gateway.canBlock ? 1 : 0, warning: gateway.warning ?? null };
}

function descriptorRow(gateway: GatewayUpsert, caps: Capabilities) {
  return {
    id: gateway.id,
    name: gateway.name,
    region: gateway.region,
    protocol: gateway.protocol,
    mode: gateway.mode,
    can_block: caps?.can_block ?? 0,
    warning: caps?.warning ?? null,
  };
}

/** What an upsert rewrites of an existing row: the descriptor, and the capabilities when given. */
function descriptorUpdate(
  eb: ExpressionBuilder<OnConflictUpdateDatabase<Database, 'gateways'>, OnConflictTables<'gateways'>>,
  withCapabilities: boolean,
) {
  return {
    name: eb.ref('excluded.name'),
    region: eb.ref('excluded.region'),
    protocol: eb.ref('excluded.protocol'),
    mode: eb.ref('excluded.mode'),
    ...(withCapabilities ? { can_block: eb.ref('excluded.can_block'), warning: eb.ref('excluded.warning') } : {}),
  };
}

export function toGateway(r: Selectable<GatewayTable>): Gateway {
  return {
    id: r.id,
    name: r.name,
    region: r.region,
    protocol: r.protocol as Protocol,
    mode: r.mode as GatewayMode,
    agentConnected: r.agent_connected === 1,
    lastSeenAt: r.last_seen_at,
    daemonStartedAt: r.daemon_started_at,
    canBlock: r.can_block === 1,
    warning: r.warning,
    daemonResponding: r.daemon_responding === 1,
    statusSince: r.status_since,
    lastError: r.last_error,
    lastErrorAt: r.last_error_at,
    removedAt: r.removed_at,
  };
}
