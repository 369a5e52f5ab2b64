import type { SessionEventType } from '../domain/event-types.js';
import type { EndCause, Session } from '../domain/session.js';
import { newOrderedId } from '../domain/ids.js';

/**
 * A change of one session. Written to the event outbox in the transaction of the change
 * (`appendSessionEvents`, event-outbox.ts) and published from there by the relay, under its id.
 */
export interface SessionEvent {
  /** `evt_…`, fixed when the event is made: the same in the outbox, on the bus, in every stream and webhook delivery. */
  id: string;
  type: SessionEventType;
  at: number;
  session: Session;
  cause: EndCause | null;
  actor: { tokenId: string | null; name: string } | null;
  reason: string | null;
  message: string | null;
}

export function sessionEvent(
  type: SessionEvent['type'],
  session: Session,
  extra: Partial<Pick<SessionEvent, 'actor' | 'reason' | 'message'>> = {},
): SessionEvent {
  return {
    id: newOrderedId('event'),
    type,
    at: type === 'session.connected' ? session.connectedAt : (session.endedAt ?? Date.now()),
    session,
    cause: session.endCause,
    actor: extra.actor ?? null,
    reason: extra.reason ?? null,
    message: extra.message ?? null,
  };
}
