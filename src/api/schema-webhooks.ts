/** The webhooks part of the schema (SDL); executable-schema.ts joins it to the rest. All of it needs `admin`. */
export const webhookTypeDefs = /* GraphQL */ `
extend type Query {
  "Webhooks not deleted (never their secrets). Needs \`admin\`."
  webhooks: [Webhook!]!
  "A webhook's deliveries, newest first, each with every attempt. Needs \`admin\`. \`first\`: 1 to 500."
  webhookDeliveries(webhookId: String!, first: Int = 50): [WebhookDelivery!]!
}

extend type Mutation {
  """
  Registers an HTTP endpoint for session events. Each event is POSTed as JSON, signed in the
  \`Switchboard-Signature\` header with the secret returned here, once. Needs \`admin\`.
  """
  createWebhook(input: CreateWebhookInput!): CreateWebhookPayload!
  "Deletes a webhook: nothing more is sent to it. Needs \`admin\`."
  deleteWebhook(id: String!): Webhook!
}

input CreateWebhookInput {
  "An absolute http:// or https:// URL."
  url: String!
  events: [SessionEventType!]!
  description: String
}

type CreateWebhookPayload {
  webhook: Webhook!
  "The HMAC-SHA256 signing key (\`whsec_…\`). Shown only here."
  secret: String!
}

"An operator's endpoint that receives session events."
type Webhook {
  id: ID!
  url: String!
  events: [SessionEventType!]!
  description: String
  createdAt: DateTime!
  "The name of the token that created it."
  createdBy: String!
}

enum WebhookDeliveryStatus {
  "Not delivered yet; retried with exponential backoff."
  PENDING
  "The receiver answered 2xx."
  DELIVERED
  "Given up: too old, or the webhook was deleted."
  FAILED
}

"One event for one webhook."
type WebhookDelivery {
  id: ID!
  "The session event's id (the payload's \`id\`): the same across retries, for de-duplication."
  eventId: String!
  eventType: SessionEventType!
  status: WebhookDeliveryStatus!
  createdAt: DateTime!
  "When the next attempt is due (PENDING)."
  nextAttemptAt: DateTime!
  deliveredAt: DateTime
  "The exact JSON body that is POSTed."
  payload: String!
  attempts: [WebhookAttempt!]!
}

"One POST of a delivery."
type WebhookAttempt {
  attempt: Int!
  at: DateTime!
  "Null when no response came (refused, timed out)."
  statusCode: Int
  error: String
  durationMs: Float!
}
`;
