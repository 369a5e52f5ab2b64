import type { EndCause, Session } from '../domain/session.js';
import { randomId } from '../domain/ids.js';
import { subjects, type Bus } from '../bus/bus.js';

/** A change of one session, published on the bus after the change committed. */
export interface SessionEvent {
  id: string;
  type: 'session.connected' | 'session.disconnected';
  at: number;
  session: Session;
  cause: EndCause | null;
  actor: { tokenId: string | null; name: string } | null;
  reason: string | null;
  message: string | null;
}

export function sessionEvent(type: SessionEvent['type'], session: Session, extra: Partial<Pick<SessionEvent, 'actor' | 'reason' | 'message'>> = {}): SessionEvent {
  return {
    id: `evt_${randomId(16)}`,
    type,
    at: type === 'session.connected' ? session.connectedAt : (session.endedAt ?? Date.now()),
    session,
    cause: session.endCause,
    actor: extra.actor ?? null,
    reason: extra.reason ?? null,
    message: extra.message ?? null,
  };
}

/** Publishing never fails the caller: the change is committed already; a lost event heals by snapshot. */
export async function publishSessionEvent(bus: Bus, event: SessionEvent, onError: (e: unknown) => void): Promise<void> {
  try {
    await bus.publish(subjects.sessionEvents, event);
  } catch (e) {
    onError(e);
  }
}
