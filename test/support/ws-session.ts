/**
 * One `graphql-ws` client connection used for several operations, as an attacker holding a socket
 * would use it: run queries and mutations on it one after the other, and see how the server closes it.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface OperationReply {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  /** Set when the socket closed before the operation was answered. */
  closeCode?: number;
}

export interface WsSession {
  /** Runs one operation on the socket and resolves with its reply (or the close that cut it short). */
  run(query: string, variables?: Record<string, unknown>): Promise<OperationReply>;
  /** Resolves with the close code once the socket is closed (by either side). */
  readonly closed: Promise<number>;
  /** Whether the server acknowledged the connection (false: it closed it during `connection_init`). */
  readonly acknowledged: boolean;
  dispose(): Promise<void>;
}

/** Connects with `token` and resolves once the server acknowledged the connection or closed it. */
export async function openWsSession(baseUrl: string, token: string): Promise<WsSession> {
  let closedWith!: (code: number) => void;
  const closed = new Promise<number>((r) => (closedWith = r));
  let acknowledged = false;
  let settled!: () => void;
  const ready = new Promise<void>((r) => (settled = r));
  const client: Client = createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      connected: () => {
        acknowledged = true;
        settled();
      },
      closed: (e) => {
        closedWith((e as { code?: number }).code ?? 0);
        settled();
      },
    },
  });
  await ready;
  return {
    closed,
    get acknowledged() {
      return acknowledged;
    },
    run(query, variables = {}) {
      return new Promise((resolve) => {
        let reply: OperationReply = {};
        client.subscribe(
          { query, variables },
          {
            next: (v) => (reply = v as OperationReply),
            error: (e) => {
              if (Array.isArray(e)) resolve({ errors: e as OperationReply['errors'] });
              else resolve({ closeCode: (e as { code?: number }).code ?? 0 });
            },
            complete: () => resolve(reply),
          },
        );
      });
    },
    dispose: async () => client.dispose(),
  };
}
