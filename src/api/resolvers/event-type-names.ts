/**
 * Event types in GraphQL. The one name of each type is `session.connected` etc. (domain/event-types.ts);
 * GraphQL enum values cannot hold a dot, so the schema writes the same name by one rule: upper case,
 * `_` for `.` (`session.connected` ↔ `SESSION_CONNECTED`). Both directions come from the one list.
 */
import { SESSION_EVENT_TYPES, type SessionEventType } from '../../domain/event-types.js';

/** `session.connected` → `SESSION_CONNECTED`. */
export function graphqlEventType(type: SessionEventType): string {
  return type.toUpperCase().replaceAll('.', '_');
}

const BY_GRAPHQL_NAME = new Map<string, SessionEventType>(SESSION_EVENT_TYPES.map((t) => [graphqlEventType(t), t]));

/** `SESSION_CONNECTED` → `session.connected`; an unknown name is returned as it is (core refuses it with its own message). */
export function eventTypeOfGraphql(name: string): SessionEventType | string {
  return BY_GRAPHQL_NAME.get(name) ?? name;
}
