/**
 * The names of every announced fact. One spelling per event type, the same on the bus, in the store
 * (the event outbox and webhook deliveries), in webhook payloads and headers, and in the docs.
 * GraphQL cannot hold a dot in an enum value: there the same name is written by one rule, upper case
 * with `_` for `.` (`session.connected` ↔ `SESSION_CONNECTED`, see api/resolvers/event-type-names.ts).
 */

/** What a session did: came online, or ended (with a cause). */
export const SESSION_EVENT_TYPES = ['session.connected', 'session.disconnected'] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/** A token was revoked: every replica ends that token's live subscriptions. */
export const TOKEN_REVOKED = 'token.revoked' as const;

/** Every type the event outbox carries. */
export type AnnouncedEventType = SessionEventType | typeof TOKEN_REVOKED;
