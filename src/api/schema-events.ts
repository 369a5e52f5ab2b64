/**
 * The live-events part of the schema (SDL), kept apart from schema.ts so each area reads on its own;
 * executable-schema.ts joins them.
 */
export const eventTypeDefs = /* GraphQL */ `
type Subscription {
  """
  Session events as they happen, from the moment of subscribing (no replay), each once per stream.
  Needs \`sessions:read\`. Over WebSocket (\`graphql-transport-ws\` on /graphql) or Server-Sent
  Events (POST /graphql/stream). When this replica loses its message bus or its database, the stream
  ends with an error whose \`extensions.code\` is \`BUS_UNAVAILABLE\` or \`STORE_UNAVAILABLE\`, and new
  subscriptions are refused the same way until it recovers: subscribe again (to another replica).
  """
  sessionEvents(filter: SessionEventFilter): SessionEvent!
}

"""
The type of a session event. Elsewhere (webhook payloads and headers, the bus, the store) the same
names are written \`session.connected\` and \`session.disconnected\`: GraphQL enum values cannot hold
a dot, so here they are upper case with \`_\` for \`.\`.
"""
enum SessionEventType {
  "\`session.connected\`: a session came online."
  SESSION_CONNECTED
  "\`session.disconnected\`: a session ended (see \`cause\`)."
  SESSION_DISCONNECTED
}

"Every given field must match; \`types\` empty or absent means both."
input SessionEventFilter {
  gatewayId: String
  userName: String
  types: [SessionEventType!]
}

"A session came online or ended."
type SessionEvent {
  "Unique per event (\`evt_…\`); the same id is in webhook deliveries of this event."
  id: ID!
  type: SessionEventType!
  at: DateTime!
  "The session as it was right after the change."
  session: Session!
  "Why it ended (SESSION_DISCONNECTED only)."
  cause: EndCause
  "Who ended it, when an operator did (ip and userAgent are not carried)."
  actor: Actor
  reason: String
  "The message the operator sent to the user with the disconnect."
  message: String
}
`;
