/**
 * The tests' GraphQL-over-HTTP client, and the one query every suite uses to see who is online.
 * `url` is always the server's base URL (`http://127.0.0.1:<port>`); `/graphql` is added here.
 */
import { request } from 'node:http';
import { waitFor } from './wait.js';

export type Variables = Record<string, unknown>;

/** An answer: its status, its text, and that text parsed as a GraphQL response. */
export interface Reply {
  status: number;
  text: string;
  json: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: string[]; extensions?: { code?: string; disconnect?: string } }[];
  };
}

export interface PostOptions {
  /** A bearer token; null or absent: no authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
  /** Abort the request after this long (default: wait as long as the test does). */
  timeoutMs?: number;
}

/** POST /graphql with `body` (an operation, or text sent as it is); the raw response. */
export function postGraphql(url: string, body: unknown, options: PostOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.token !== undefined && options.token !== null) headers.authorization = `Bearer ${options.token}`;
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(options.timeoutMs !== undefined ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
  });
}

/** One GraphQL operation as `token` (null: none). Throws if the answer is not JSON, or the connection fails. */
export async function gql(
  url: string,
  token: string | null,
  query: string,
  variables?: Variables,
  options: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await postGraphql(url, { query, variables }, { token, ...options });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Reply['json'] };
}

/**
 * `gql` over node:http on a connection of its own, which also tells when the request has been handed
 * to the operating system (`sent`): fetch does not. For requests sent to a stopped (SIGSTOP) server,
 * which the kernel queues for it. `reply` rejects if the connection is cut before the answer.
 */
export function gqlSent(
  url: string,
  token: string,
  query: string,
  variables?: Variables,
): { sent: Promise<void>; reply: Promise<Reply> } {
  let sent!: () => void;
  let failed!: (e: unknown) => void;
  const sentP = new Promise<void>((res, rej) => ((sent = res), (failed = rej)));
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = request(`${url}/graphql`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    req.on('finish', sent);
    req.on('error', (e) => {
      failed(e);
      reject(e);
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, text, json: JSON.parse(text) as Reply['json'] });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.end(JSON.stringify({ query, variables }));
  });
  // A cut before it was sent is the reply's failure too; the caller may await either.
  sentP.catch(() => {});
  return { sent: sentP, reply };
}

/** `gql` bound to one server and token; a call may name another token (null: none). */
export type Gql = (query: string, variables?: Variables, token?: string | null) => Promise<Reply>;

export function apiClient(url: string, token: string | null, options: { timeoutMs?: number } = {}): Gql {
  return (query, variables, as) => gql(url, as === undefined ? token : as, query, variables, options);
}

/** Who is online on gateway `$gw`: session id and user name. */
export const ONLINE_SESSIONS =
  'query ($gw: String) { onlineSessions(first: 500, filter: { gatewayId: $gw }) { edges { node { id user { name } } } } }';

export interface OnlineSession {
  id: string;
  user: { name: string };
}

/** The sessions an `onlineSessions` answer lists (`T`: the fields the query asked for); none if it has no data. */
export function onlineRows<T = OnlineSession>(json: Reply['json'] | undefined): T[] {
  const page = json?.data?.onlineSessions as { edges: { node: T }[] } | undefined;
  return page?.edges.map((e) => e.node) ?? [];
}

/** The online sessions of gateway `gw`, asked through `call`. */
export async function onlineSessions(call: Gql, gw: string): Promise<OnlineSession[]> {
  return onlineRows((await call(ONLINE_SESSIONS, { gw })).json);
}

/** The same, as user name → session id. */
export async function onlineIds(call: Gql, gw: string): Promise<Map<string, string>> {
  return new Map((await onlineSessions(call, gw)).map((s) => [s.user.name, s.id]));
}

/** Waits until `user` has an online session on `gw` other than `not` (a reconnect's new one); its id. */
export function onlineIdOf(call: Gql, gw: string, user: string, not?: string): Promise<string> {
  return waitFor(
    async () => {
      const id = (await onlineIds(call, gw)).get(user);
      return id !== not ? id : undefined;
    },
    20_000,
    `${user} online on ${gw}`,
  );
}

export interface GatewayLink {
  id: string;
  agentConnected: boolean;
  statusSince: string | null;
  lastError: string | null;
}

/** Gateway `gw`'s link as the API shows it, asked through `call`; undefined while it is not listed. */
export async function gatewayLink(call: Gql, gw: string): Promise<GatewayLink | undefined> {
  const gateways = (await call('{ gateways { id agentConnected statusSince lastError } }')).json.data?.gateways as
    GatewayLink[] | undefined;
  return gateways?.find((g) => g.id === gw);
}

/** Whether gateway `gw`'s agent is linked, asked through `call`; null while the gateway is not listed. */
export async function agentConnected(call: Gql, gw: string): Promise<boolean | null> {
  return (await gatewayLink(call, gw))?.agentConnected ?? null;
}

/**
 * Waits until gateway `gw`'s agent holds the daemon's control connection (`agentConnected`). Start an
 * OpenVPN client of an authorize gateway only after it: the daemon sends `>CLIENT:CONNECT` only to a
 * linked management client, and one sent before is lost (the client hangs for its 60 s handshake
 * window). A `switchboard` process printing that it is listening or reporting is not linked yet.
 * After a restart of Switchboard or of the agent (same database, daemon running), pass `since`, a time
 * (ms) before the new process started: until it is heard, the old one's status may still read connected
 * (a killed process said no goodbye: for the liveness window); a link up again moved `statusSince` past `since`.
 */
export async function waitLinked(call: Gql, gw: string, since?: number): Promise<void> {
  let seen: GatewayLink | undefined;
  await waitFor(
    async () => {
      seen = await gatewayLink(call, gw);
      return seen?.agentConnected === true && (since === undefined || Date.parse(seen.statusSince ?? '') > since);
    },
    30_000,
    () =>
      `the link of ${gw}${since === undefined ? '' : ' since the restart'} (last seen ${JSON.stringify(seen ?? null)})`,
  );
}

/** A page of session history (online and ended) matching `$f`, with what an operator reads of each. */
export const SESSION_HISTORY = `query ($f: SessionHistoryFilter, $first: Int, $after: String) {
  sessionHistory(filter: $f, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id user { name } gateway { id } protocol clientAddress virtualAddress connectedAt endedAt
      durationSeconds endCause endedBy { tokenId name } endReason bytesReceived bytesSent } }
  }
}`;

export interface HistoryRow {
  id: string;
  user: { name: string };
  gateway: { id: string } | null;
  protocol: string;
  clientAddress: string | null;
  virtualAddress: string | null;
  connectedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  endCause: string | null;
  endedBy: { tokenId: string | null; name: string } | null;
  endReason: string | null;
  bytesReceived: number;
  bytesSent: number;
}

/** The first page (up to 500) of history matching `filter`, asked through `call`; throws on errors. */
export async function sessionHistory(call: Gql, filter: Variables): Promise<HistoryRow[]> {
  const reply = await call(SESSION_HISTORY, { f: filter, first: 500 });
  if (reply.json.errors) throw new Error(`sessionHistory failed: ${reply.text}`);
  const page = reply.json.data?.sessionHistory as { edges: { node: HistoryRow }[] };
  return page.edges.map((e) => e.node);
}
