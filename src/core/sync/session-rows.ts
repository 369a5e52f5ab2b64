import { newSessionId, userIdFor } from '../../domain/ids.js';
import type { Protocol } from '../../domain/gateway.js';
import type { Session, SessionReport } from '../../domain/session.js';
import type { Store, StoreTx } from '../../store/store.js';
import { appendSessionEvents } from '../event-outbox.js';
import type { SessionEvent } from '../session-events.js';

/** What applying deltas and snapshots both need: the store and the control plane's clock. */
export interface SyncDeps {
  store: Store;
  now: () => number;
  /** Hears of a report ignored because a reload of a control plane's gateway file removed its gateway. */
  removedGateway?: (gatewayId: string) => void;
}

/** A transaction that changes sessions: its events (outbox and webhook rows) commit with it. */
export function changing(deps: SyncDeps, fn: (tx: StoreTx) => Promise<SessionEvent[]>): Promise<SessionEvent[]> {
  return deps.store.transaction(async (tx) => {
    const events = await fn(tx);
    await appendSessionEvents(tx, events, deps.now());
    return events;
  });
}

/** The row for a ref seen for the first time. */
export function newSession(gatewayId: string, report: SessionReport, at: number, protocol: Protocol | null): Session {
  // Field by field, not `...report` and more fields: applying a 100k-session snapshot with the
  // spread peaked at 246 MB of V8 heap, this way at 92 MB (and 20% faster).
  return {
    id: newSessionId(),
    gatewayId,
    ref: report.ref,
    userId: userIdFor(report.userName),
    userName: report.userName,
    commonName: report.commonName,
    clientAddress: report.clientAddress,
    virtualAddress: report.virtualAddress,
    virtualAddress6: report.virtualAddress6,
    protocol: protocol ?? 'openvpn',
    connectedAt: report.connectedAt,
    lastSeenAt: at,
    bytesReceived: report.bytesReceived,
    bytesSent: report.bytesSent,
    clientVersion: report.clientVersion,
    clientPlatform: report.clientPlatform,
    endedAt: null,
    endCause: null,
    endedByTokenId: null,
    endedByName: null,
    endReason: null,
    group: report.group ?? null,
    device: report.device ?? null,
    transport: report.transport ?? null,
  };
}
