/**
 * The GraphQL schema as SDL. The seed's mutation, `disconnectBySessionId`, is kept exactly as the seed
 * prints it; everything else is its richer siblings and the queries the seed points to.
 */
export const typeDefs = /* GraphQL */ `
"""
An instant, as an ISO-8601 string. Output is always UTC with milliseconds
(\`2024-05-01T12:00:00.000Z\`); input accepts any ISO-8601 date-time with \`Z\` or an offset.
A date the calendar does not have (\`2023-02-29\`, \`2024-04-31\`, month 13) or a field out of range
is BAD_USER_INPUT naming the field; \`24:00\` is the next day's \`00:00\`; a leap second (\`:60\`) is refused.
"""
scalar DateTime

type Query {
  """
  Sessions online now, newest first (by connectedAt, then id) unless \`orderBy\` says otherwise.
  Needs \`sessions:read\`. \`first\`: 1 to 500, default 50. \`after\`: an opaque cursor from a
  previous page of the same \`orderBy\` (another order's cursor is BAD_CURSOR).
  """
  onlineSessions(first: Int = 50, after: String, filter: OnlineSessionFilter, orderBy: SessionOrder): SessionConnection!
  "One online session, or null when it is not online (unknown or already ended). Needs \`sessions:read\`."
  onlineSession(id: String!): Session
  """
  Sessions online and ended, newest first (by connectedAt, then id): a user's or an address's recent
  history, a gateway's, one session's, or everyone's. Each ended session carries when and why it ended
  (\`endCause\`), who ended it when an operator did (\`endedBy\`, from the disconnect's record), its
  duration and its final traffic. Ended sessions are kept: Switchboard deletes none. Needs
  \`sessions:read\`. \`first\`: 1 to 500, default 50. \`after\`: an opaque cursor from a previous page.
  """
  sessionHistory(first: Int = 50, after: String, filter: SessionHistoryFilter): SessionConnection!
  "Every gateway Switchboard controls. Needs \`sessions:read\`."
  gateways: [Gateway!]!
  """
  Users denied reconnects right now (a disconnect's \`blockSeconds\`), by gateway then user. Needs
  \`sessions:read\` (blocks name users, as sessions do). Expired and lifted blocks are not listed; the
  audit trail keeps their history.
  """
  blocks(filter: BlockFilter): [Block!]!
  "The audit trail, newest first. Needs \`audit:read\`. \`first\`: 1 to 500, default 50."
  auditEvents(first: Int = 50, after: String, filter: AuditEventFilter): AuditEventConnection!
  "Every API token (never their secrets). Needs \`admin\`."
  tokens: [ApiToken!]!
  "The token behind this request and what it may do. Needs only a valid token (the console's sign-in)."
  viewer: Viewer!
}

type Mutation {
  """
  Ends one online session. Returns true only after its gateway confirmed. Needs \`admin\` (or \`sessions:disconnect\`).
  Errors: SESSION_NOT_FOUND (unknown or already ended), FORBIDDEN, GATEWAY_UNAVAILABLE (HTTP 503) with
  \`extensions.disconnect\`: \`NOT_SENT\` (never reached the daemon; the session is still online) or
  \`UNCONFIRMED\` (not confirmed in time; it may still take effect, and is then recorded as this disconnect);
  DEPLOYMENT_CONFLICT (HTTP 503: another deployment announces itself on this NATS prefix; nothing was done).
  """
  disconnectBySessionId(onlineSessionId: String!): Boolean!
  """
  Ends one online session with a reason, a message for the user and a mode; returns the ended
  session and the audit event that records it. Needs \`admin\` or \`sessions:disconnect\`.
  """
  disconnectSession(input: DisconnectSessionInput!): DisconnectSessionPayload!
  """
  Ends every online session matching a filter (a user's, a gateway's…), each one as disconnectSession
  would, each one audited. An empty filter is refused (BAD_USER_INPUT) unless \`all: true\`, and so is
  an empty \`userNameContains\` (every user name contains it). Needs \`admin\` or \`sessions:disconnect\`.
  Refused whole with DEPLOYMENT_CONFLICT (HTTP 503) while another deployment announces itself on this
  NATS prefix: no session is touched.
  """
  disconnectSessions(input: DisconnectSessionsInput!): DisconnectSessionsPayload!
  "Creates an API token. The secret is returned once, here, and never again. Needs \`admin\`."
  createToken(input: CreateTokenInput!): CreateTokenPayload!
  """
  Ends a user's block on a gateway at once: the user may connect again. Needs \`sessions:disconnect\`
  (or \`admin\`), like setting one; audited as \`block.lift\`. Errors: BLOCK_NOT_FOUND (no block in
  force: never set, expired, or lifted already), FORBIDDEN.
  """
  liftBlock(input: LiftBlockInput!): Block!
  """
  Revokes an API token at once. Needs \`admin\`. Revoking the last valid admin token needs
  \`force: true\` (else LAST_ADMIN_TOKEN, 409): without it no API token could manage tokens.
  """
  revokeToken(id: String!, force: Boolean = false): ApiToken!
}

"One live tunnel of one user on one gateway (or, when endedAt is set, one that has ended)."
type Session {
  "Public id: \`sess_\` and 12 characters [a-z0-9]."
  id: ID!
  user: User!
  "The gateway the session is on; null if that gateway is no longer configured."
  gateway: Gateway
  protocol: String!
  "The client's public address, \`ip:port\` or \`[ipv6]:port\`."
  clientAddress: String
  virtualAddress: String
  virtualAddress6: String
  "The user's group on the gateway's daemon (OpenConnect/ocserv); null where the daemon has none."
  group: String
  "The tun device the tunnel runs over on the gateway host (e.g. \`vpns0\`); null if the gateway does not say."
  device: String
  """
  What carries the tunnel between client and gateway: UDP or TCP (OpenVPN's \`proto\`; WireGuard is
  always UDP). Null if the gateway does not say (OpenConnect, IKEv2; an OpenVPN session that was up
  when its agent attached, until a client of the same daemon connects or renegotiates and so says the
  daemon's proto: see docs/openvpn-gateways.md, "Transport").
  """
  transport: Transport
  "A WireGuard peer's public key (base64, 44 characters); null on other protocols."
  publicKey: String
  connectedAt: DateTime!
  "Bytes received from the client. A Float, because byte counters exceed 2^31 (exact up to 2^53)."
  bytesReceived: Float!
  "Bytes sent to the client. A Float, because byte counters exceed 2^31 (exact up to 2^53)."
  bytesSent: Float!
  """
  When the gateway last reported this session with new byte counters, or at most a minute after
  that: a periodic snapshot in which an idle session's counters did not move rewrites it only once
  it is a minute old.
  """
  lastSeenAt: DateTime!
  """
  True while the session's gateway agent is heard from (heartbeats within the liveness bound), so
  the gateway vouches that this session is live. False when the agent went silent: the session stays
  listed, but it may have ended unseen, and a disconnect answers GATEWAY_UNAVAILABLE until the agent
  is back and its snapshot reconciles. Always true for an ended session.
  """
  confirmed: Boolean!
  client: SessionClient!
  "Null while the session is online."
  endedAt: DateTime
  "Null while the session is online."
  endCause: EndCause
  "Who ended it (an admin disconnect); null while online or when the session ended by itself."
  endedBy: Actor
  "Null while online, or when no reason was given."
  endReason: String
  "Seconds from connectedAt to endedAt (to now while the session is online), to the millisecond."
  durationSeconds: Float!
}

"The VPN account a session belongs to."
type User {
  id: ID!
  name: String!
}

"What the VPN client told the gateway about itself."
type SessionClient {
  version: String
  platform: String
}

"A tunnel's transport between client and gateway."
enum Transport {
  UDP
  TCP
}

enum EndCause {
  CLIENT_DISCONNECT
  ADMIN_DISCONNECT
  GATEWAY_RESTART
  GATEWAY_REMOVED
}

"Who did something: the API token behind a request and where the request came from."
type Actor {
  "Null for Switchboard's own actions."
  tokenId: String
  name: String!
  "Null where not recorded (e.g. on a session's endedBy)."
  ip: String
  "Null where not recorded (e.g. on a session's endedBy)."
  userAgent: String
}

"A user denied reconnects on one gateway until a time (gateways whose canBlock is true: OpenVPN in authorize mode, OpenConnect with a blockFile, WireGuard; not IKEv2)."
type Block {
  gatewayId: String!
  "The gateway; null if it is no longer known."
  gateway: Gateway
  "The verified identity that is blocked (see the gateway's identity setting)."
  userName: String!
  "From this instant on the user may connect again."
  until: DateTime!
  blockedAt: DateTime!
  "Who set it (the disconnect's caller)."
  blockedBy: String!
  "The disconnect's reason, if one was given."
  reason: String
  "The message the disconnect that set it sent the user, if one was given (see disconnectSession's message: not every client shows it)."
  message: String
  "The session whose disconnect set it."
  sessionId: String
}

input BlockFilter {
  gatewayId: String
  userName: String
}

input LiftBlockInput {
  gatewayId: String!
  userName: String!
  "Why, for the audit trail."
  reason: String
}

"One VPN daemon that Switchboard controls."
type Gateway {
  id: ID!
  name: String!
  region: String!
  "The VPN protocol, e.g. \`openvpn\`."
  protocol: String!
  "\`observe\` (sessions are read from the daemon) or \`authorize\` (the agent answers every client auth)."
  mode: String!
  """
  Whether the gateway's agent currently holds the daemon's control connection. An agent that stops
  cleanly says so at once; one killed or cut off reads true until the liveness window passes.
  """
  agentConnected: Boolean!
  """
  Whether the daemon answers its agent's liveness probe (a cheap management command every few seconds).
  False while it does not (stopped, wedged, stuck in a slow script) and whenever agentConnected is
  false. While false, disconnects on this gateway fail at once with GATEWAY_UNAVAILABLE
  (extensions.disconnect NOT_SENT): nothing is queued behind the stall.
  """
  daemonResponding: Boolean!
  "When a replica last heard the gateway's agent (any report). An agent is heard while its daemon is down."
  lastSeenAt: DateTime
  """
  Since when \`agentConnected\` and \`daemonResponding\` have had their current values (as the control
  plane saw them change); null until a status was first recorded. For an agent that fell silent: when
  it was last heard.
  """
  statusSince: DateTime
  """
  The last problem with the gateway's daemon link, kept after it recovers: the link's error as its
  agent reported it (e.g. a refused or closed control socket), \`the daemon does not answer the liveness
  probe\`, \`its agent stopped\` (it said goodbye: a clean stop, or a reload removed the gateway),
  \`a reload changed the gateway; its link was made anew\` (a reload changed its settings), or
  \`no heartbeat from its agent\` (it went silent: killed, crashed, cut off). Null if none was recorded.
  """
  lastError: String
  "When \`lastError\` began; the same error repeated while the gateway stays unhealthy keeps this time."
  lastErrorAt: DateTime
  sessionsOnline: Int!
  """
  Why this replica refuses the gateway's reports, or null when it reads them. Set when the gateway's
  agent speaks a version of the wire contract this replica does not (a rolling upgrade half done):
  its sessions are not kept current until one side is upgraded.
  """
  degradedReason: String
  """
  Reports this replica received on the gateway's subject and dropped since it started: a body naming
  another gateway, a message that does not fit the wire contract, or an unsupported version. Each
  kind is logged at warn (an unsupported version at error, once).
  """
  rejectedReports: Int!
  """
  Whether a disconnect may ask this gateway to deny the user's reconnects (\`blockSeconds\`): an
  \`authorize\` gateway whose daemon runs \`management-client-auth\`, as its agent last reported. When
  false, a disconnect with \`blockSeconds\` is refused with BLOCK_UNSUPPORTED and nothing is done.
  """
  canBlock: Boolean!
  "A mismatch the agent found between the gateway's settings and its daemon (e.g. its mode); null when none."
  warning: String
}

input OnlineSessionFilter {
  userId: String
  "The user name, exactly."
  userName: String
  """
  Part of the user name, without regard to case (\`ali\` finds \`Alice\`). Letters are folded by the
  database's lower(): ASCII letters only on SQLite.
  """
  userNameContains: String
  """
  An address as it is shown, exactly: the client's \`ip:port\` or \`[ipv6]:port\`, its IP alone (with or
  without brackets), or the session's virtual IPv4 or IPv6 address.
  """
  address: String
  gatewayId: String
  protocol: String
  "The client's public IP, without port."
  clientIp: String
  "Sessions that connected after this instant (exclusive)."
  connectedAfter: DateTime
  "Sessions that connected before this instant (exclusive)."
  connectedBefore: DateTime
}

"Which sessions a history lists; every field given must match."
input SessionHistoryFilter {
  "The whole user name, without regard to case (\`alice\` finds \`Alice\`; \`ali\` does not). ASCII letters only on SQLite."
  userName: String
  "An address as it is shown, exactly, as in OnlineSessionFilter (\`ip:port\`, the IP alone, a virtual address)."
  address: String
  gatewayId: String
  sessionId: String
  "true: ended sessions only; false: online sessions only; absent: both."
  ended: Boolean
}

"What online sessions are sorted by. Ties are broken by session id, in the same direction."
enum SessionSortField {
  "When the session connected (the default, DESC: newest first)."
  CONNECTED_AT
  "The user name, without regard to case."
  USER
  "The gateway's id."
  GATEWAY
  "bytesReceived + bytesSent. Counters move: each page is sorted as it is when read."
  TRAFFIC
}

enum SortDirection {
  ASC
  DESC
}

input SessionOrder {
  field: SessionSortField!
  direction: SortDirection = ASC
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type SessionConnection {
  edges: [SessionEdge!]!
  pageInfo: PageInfo!
  "How many sessions match the filter in all pages (computed only when asked for)."
  totalCount: Int!
}

type SessionEdge {
  cursor: String!
  node: Session!
}

"HALT: the client is told to stay down. RESTART: the client may reconnect, as a new session."
enum DisconnectMode {
  HALT
  RESTART
}

input DisconnectSessionInput {
  sessionId: String!
  "Why (kept in the audit trail and on the session)."
  reason: String
  "Shown to the user by clients that support it (OpenVPN). A WireGuard client is not told anything: WireGuard cannot carry a message."
  message: String
  mode: DisconnectMode = HALT
  "With HALT: refuse the same user's reconnection for this many seconds, where the gateway supports it (WireGuard: the peer is kept off the interface, then restored)."
  blockSeconds: Int
}

input DisconnectSessionsInput {
  "Which online sessions to end; every given field must match."
  filter: OnlineSessionFilter
  """
  Instead of a filter: exactly these sessions (1 to 500 ids, e.g. the rows an operator ticked). Not
  together with \`filter\` or \`all\` (BAD_USER_INPUT). An id that is no longer online counts as already gone.
  """
  sessionIds: [String!]
  "Required, and must be true, to end every online session with an empty filter (or an empty \`userNameContains\`)."
  all: Boolean = false
  reason: String
  "Shown to each user by clients that support it."
  message: String
  mode: DisconnectMode = HALT
  blockSeconds: Int
}

type DisconnectSessionsPayload {
  "Online sessions that matched the filter."
  matched: Int!
  "Sessions that their gateway confirmed ended."
  ended: Int!
  "Sessions that had ended by themselves by the time their turn came."
  alreadyGone: Int!
  "Sessions whose disconnect failed (see errors): not sent (still online) or not confirmed (may still take effect)."
  failed: Int!
  errors: [DisconnectSessionsError!]!
  "What happened to each matched session, in the order they were matched."
  results: [DisconnectSessionsResult!]!
}

type DisconnectSessionsError {
  sessionId: String!
  code: String!
  message: String!
  "For GATEWAY_UNAVAILABLE: \`NOT_SENT\` (the session is still online) or \`UNCONFIRMED\` (it may still take effect); else null."
  disconnect: String
}

"""
One session's outcome in a bulk disconnect. ENDED: its gateway confirmed. ALREADY_GONE: it had ended
before its turn (SESSION_NOT_FOUND). NOT_SENT: the command never reached the daemon; the session is
still online. UNCONFIRMED: sent but not confirmed in time; it may still take effect. FAILED: any other error.
"""
enum BulkDisconnectOutcome {
  ENDED
  ALREADY_GONE
  NOT_SENT
  UNCONFIRMED
  FAILED
}

type DisconnectSessionsResult {
  sessionId: String!
  outcome: BulkDisconnectOutcome!
  "The error code when it did not end; null when ENDED."
  code: String
}

enum DisconnectOutcome {
  DISCONNECTED
}

type DisconnectSessionPayload {
  "The session as it is now (ended)."
  session: Session!
  outcome: DisconnectOutcome!
  "The id of the AuditEvent that records this disconnect."
  auditEventId: ID!
}

enum AuditOutcome {
  SUCCESS
  NOT_FOUND
  FORBIDDEN
  GATEWAY_UNAVAILABLE
  FAILED
  "Turned down before anything was asked of a gateway (e.g. BLOCK_UNSUPPORTED)."
  REFUSED
  "A disconnect recorded before its gateway was asked; a later event with the same metadata.intentId settles it."
  PENDING
}

"An append-only record of one action and its outcome."
type AuditEvent {
  id: ID!
  at: DateTime!
  """
  A stable action code: \`session.disconnect\`, \`session.bulk_disconnect\`, \`session.reconnect_blocked\`,
  \`block.lift\`, \`token.create\`, \`token.revoke\`, \`webhook.create\`, \`webhook.delete\`, \`gateway.reload\`.
  """
  action: String!
  outcome: AuditOutcome!
  actor: Actor!
  """
  The id of the request (or WebSocket operation) that acted: the \`x-request-id\` it was answered with
  and the \`requestId\` of its log lines. Null for work Switchboard did by itself.
  """
  requestId: String
  target: AuditTarget!
  reason: String
  "The error code when the action failed."
  errorCode: String
  durationMs: Float
  "Action-specific detail, as a JSON object in a string."
  metadata: String!
}

type AuditTarget {
  sessionId: String
  userName: String
  gatewayId: String
}

input AuditEventFilter {
  "An action code such as \`session.disconnect\`."
  action: String
  outcome: AuditOutcome
  actorTokenId: String
  "Events written by the request (or WebSocket operation) with this id."
  requestId: String
  targetSessionId: String
  targetUserName: String
  targetGatewayId: String
  "Events at or after this instant."
  since: DateTime
  "Events before this instant."
  until: DateTime
}

type AuditEventConnection {
  edges: [AuditEventEdge!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

type AuditEventEdge {
  cursor: String!
  node: AuditEvent!
}

"The caller: the API token that authenticated this request."
type Viewer {
  "Null for Switchboard's own actions (never for an API caller)."
  tokenId: String
  name: String!
  "The token's scopes, as granted (\`admin\` implies every other scope)."
  scopes: [String!]!
}

"An API bearer credential. Its secret is shown once, when it is created."
type ApiToken {
  id: ID!
  name: String!
  "The first characters of the token, safe to show."
  prefix: String!
  "Any of \`admin\`, \`sessions:read\`, \`sessions:disconnect\`, \`audit:read\`."
  scopes: [String!]!
  createdAt: DateTime!
  expiresAt: DateTime
  revokedAt: DateTime
  lastUsedAt: DateTime
}

input CreateTokenInput {
  name: String!
  "Any of \`admin\`, \`sessions:read\`, \`sessions:disconnect\`, \`audit:read\`."
  scopes: [String!]!
  "A lifetime such as \`30d\`, \`12h\`, \`15m\` (units s, m, h, d, w); null for a token that does not expire."
  expiresIn: String
}

type CreateTokenPayload {
  token: ApiToken!
  "The token to send as \`Authorization: Bearer <secret>\`. Shown only here."
  secret: String!
}
`;
