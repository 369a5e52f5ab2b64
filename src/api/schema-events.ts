/**
 * The live-events part of the schema (SDL), kept apart from schema.ts so each area reads on its own;
 * executable-schema.ts joins them.
 */
export const eventTypeDefs = /* GraphQL */ `
type Subscription {
  """
  Session events as they happen, from the moment of subscribing (no replay). Needs \`sessions:read\`.
  Over WebSocket (\`graphql-transport-ws\` on /graphql) or Server-Sent Events (POST /graphql/stream).
  """
  sessionEvents(filter: SessionEventFilter): SessionEvent!
}

enum SessionEventType {
  SESSION_CONNECTED
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
