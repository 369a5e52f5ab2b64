import type { Expression, ExpressionBuilder, Selectable, SqlBool } from 'kysely';
import type { Protocol } from '../../domain/gateway.js';
import { ipOf, type EndCause, type Session, type Transport } from '../../domain/session.js';
import type { Database, SessionTable } from './database.js';

/** The sessions table in a WHERE clause. */
export type Sessions = ExpressionBuilder<Database, 'sessions'>;

/**
 * An address as the console shows it. With a port it is a client address, found through its IP
 * (`client_ip` is indexed); without one, the client's IP or a virtual address. Each arm is an indexed
 * column, so PostgreSQL can OR the indexes instead of scanning the table.
 */
export function addressMatching(eb: Sessions, address: string): Expression<SqlBool> {
  const a = address.replace(/^\[([^\]]*)\]$/, '$1'); // "[2001:db8::1]" is shown without a port too
  const ip = ipOf(a);
  if (ip !== null && ip !== a) return eb.and([eb('client_ip', '=', ip), eb('client_address', '=', a)]);
  return eb.or([eb('client_ip', '=', a), eb('virtual_address', '=', a), eb('virtual_address6', '=', a)]);
}

export function toRow(s: Session): SessionTable {
  return {
    id: s.id,
    gateway_id: s.gatewayId,
    ref: s.ref,
    user_id: s.userId,
    user_name: s.userName,
    common_name: s.commonName,
    client_address: s.clientAddress,
    client_ip: ipOf(s.clientAddress),
    virtual_address: s.virtualAddress,
    virtual_address6: s.virtualAddress6,
    protocol: s.protocol,
    connected_at: s.connectedAt,
    last_seen_at: s.lastSeenAt,
    bytes_received: s.bytesReceived,
    bytes_sent: s.bytesSent,
    client_version: s.clientVersion,
    client_platform: s.clientPlatform,
    ended_at: s.endedAt,
    end_cause: s.endCause,
    ended_by_token_id: s.endedByTokenId,
    ended_by_name: s.endedByName,
    end_reason: s.endReason,
    group_name: s.group,
    device: s.device,
    transport: s.transport,
  };
}

export function toSession(r: Selectable<SessionTable>): Session {
  return {
    id: r.id,
    gatewayId: r.gateway_id,
    ref: r.ref,
    userId: r.user_id,
    userName: r.user_name,
    commonName: r.common_name,
    clientAddress: r.client_address,
    virtualAddress: r.virtual_address,
    virtualAddress6: r.virtual_address6,
    protocol: r.protocol as Protocol,
    connectedAt: r.connected_at,
    lastSeenAt: r.last_seen_at,
    bytesReceived: r.bytes_received,
    bytesSent: r.bytes_sent,
    clientVersion: r.client_version,
    clientPlatform: r.client_platform,
    endedAt: r.ended_at,
    endCause: r.end_cause as EndCause | null,
    endedByTokenId: r.ended_by_token_id,
    endedByName: r.ended_by_name,
    endReason: r.end_reason,
    group: r.group_name,
    device: r.device,
    transport: r.transport as Transport | null,
  };
}
