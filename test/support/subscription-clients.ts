/**
 * Test clients for the two subscription transports: `graphql-ws` over `ws` (Node 20 has no global
 * WebSocket), and a small SSE reader over fetch. Both collect what arrives for assertions.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

export interface Collected {
  events: Record<string, unknown>[];
  errors: unknown[];
  /** WebSocket close code, when the server closed the socket. */
  closeCode: number | null;
  /** HTTP status of the SSE response. */
  status: number | null;
  /** The server ended the subscription (WebSocket `complete`, or the SSE stream ended). */
  completed: boolean;
  /** Resolves once the first `n` results are in (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function collector(): Omit<Collected, 'close'> & { push(e: Record<string, unknown>): void } {
  const c = {
    events: [] as Record<string, unknown>[],
    errors: [] as unknown[],
    closeCode: null as number | null,
    status: null as number | null,
    completed: false,
    push(e: Record<string, unknown>) {
      c.events.push(e);
    },
    async waitFor(n: number, ms = 15_000) {
      await waitFor(
        () => {
          if (c.errors.length > 0) throw new Error(`subscription failed: ${JSON.stringify(c.errors)}`);
          return c.events.length >= n;
        },
        ms,
        () => `${n} events; got ${JSON.stringify(c.events)}`,
        20,
      );
      return c.events.slice(0, n);
    },
  };
  return c;
}

/** Subscribes over WebSocket; resolves once the server acknowledged the connection (or closed it). */
export async function wsSubscribe(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown>,
  connectionParams: Record<string, unknown>,
): Promise<Collected> {
  const c = collector();
  let acked!: () => void;
  const ready = new Promise<void>((r) => (acked = r));
  const client: Client = createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {}, // the close code is recorded below; the default prints the whole event
    on: {
      connected: () => acked(),
      closed: (e) => {
        c.closeCode = (e as { code?: number }).code ?? null;
        acked();
      },
    },
  });
  client.subscribe(
    { query, variables },
    {
      next: (v) => (v.errors ? c.errors.push(v.errors) : c.push(v.data as Record<string, unknown>)),
      error: (e) => c.errors.push(e instanceof Error ? e.message : e),
      complete: () => {
        c.completed = true;
      },
    },
  );
  await ready;
  // The subscribe message is sent right after the ack; give the server a moment to register it.
  await new Promise((r) => setTimeout(r, 100));
  return {
    ...c,
    get closeCode() {
      return c.closeCode;
    },
    get completed() {
      return c.completed;
    },
    close: async () => client.dispose(),
  };
}

/** Subscribes over SSE (distinct connection); resolves once the response headers arrived. */
export async function sseSubscribe(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown>,
  token: string | null,
): Promise<Collected> {
  const c = collector();
  const abort = new AbortController();
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${baseUrl}/graphql/stream`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: abort.signal,
  });
  c.status = res.status;
  const reading = (async () => {
    if (!res.ok || !res.body) {
      c.errors.push(await res.text());
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let i = buffer.indexOf('\n\n'); i !== -1; i = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const event = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.replace(/^data: ?/, ''))
          .join('\n');
        if (event === 'complete') c.completed = true;
        if (event === 'next' && data) {
          const v = JSON.parse(data) as { data?: Record<string, unknown>; errors?: unknown[] };
          if (v.errors) c.errors.push(v.errors);
          else c.push(v.data!);
        }
      }
    }
  })().catch((e: unknown) => {
    if ((e as Error).name !== 'AbortError') c.errors.push(String(e));
  });
  await new Promise((r) => setTimeout(r, 100));
  return {
    ...c,
    get status() {
      return c.status;
    },
    get completed() {
      return c.completed;
    },
    close: async () => {
      abort.abort();
      await reading;
    },
  };
}
