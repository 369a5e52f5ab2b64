/**
 * What travels between an agent and the control plane over the bus. Both ends import this file, so
 * the wire shape has one definition.
 */
import type { DisconnectMode, EndCause, SessionReport } from '../domain/session.js';
import type { GatewayMode, Protocol } from '../domain/gateway.js';

/** How an agent describes its gateway, so a control plane without the config file knows it too. */
export interface GatewayDescriptor {
  name: string;
  region: string;
  protocol: Protocol;
  mode: GatewayMode;
}

/** Agent → control plane on `subjects.gatewayReport(id)`. `seq` increases per agent run. */
export type GatewayReport =
  | { type: 'snapshot'; gatewayId: string; agentId: string; seq: number; at: number; gateway: GatewayDescriptor; daemonStartedAt: number | null; sessions: SessionReport[]; part?: SnapshotPart }
  | { type: 'connected'; gatewayId: string; agentId: string; seq: number; at: number; session: SessionReport }
  | { type: 'disconnected'; gatewayId: string; agentId: string; seq: number; at: number; ref: string; cause: EndCause; bytesReceived?: number; bytesSent?: number }
  | { type: 'heartbeat'; gatewayId: string; agentId: string; seq: number; at: number; gateway: GatewayDescriptor; linkUp: boolean }
  | { type: 'link-down'; gatewayId: string; agentId: string; seq: number; at: number; error: string }
  /** A client was refused at authentication because its user is blocked; audited as `session.reconnect_blocked`. */
  | { type: 'auth-denied'; gatewayId: string; agentId: string; seq: number; at: number; userName: string; reason: string; clientAddress: string | null };

/**
 * A large snapshot travels as several `snapshot` reports, `count` parts of one `id`, sent in order
 * (a bus message has a size limit: NATS refuses more than 1 MB by default, about 4,000 sessions).
 * Only a snapshot whose every part arrived may end the sessions it does not list.
 */
export interface SnapshotPart {
  id: string;
  index: number;
  count: number;
}

/** Control plane → agent on `subjects.gatewayDisconnect(id)`. */
export interface DisconnectRequest {
  ref: string;
  userName: string;
  mode: DisconnectMode;
  message: string | null;
  blockSeconds: number | null;
  deadlineMs: number;
}

export type DisconnectReply =
  | { outcome: 'ENDED' }
  | { outcome: 'NOT_FOUND' }
  | { outcome: 'UNAVAILABLE'; detail: string };
