/**
 * One GraphQL operation over each of the API's transports, with the real clients a user would use:
 * HTTP (a raw node:http request, so no header is added behind our back), WebSocket (graphql-ws) and
 * Server-Sent Events (graphql-sse, distinct connections). Each answer is reduced to what the bad-input
 * corpus compares: the HTTP status where there is one, the first error's code and message, and data.
 */
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient, NetworkError } from 'graphql-sse';
import WebSocket from 'ws';

export type Transport = 'http' | 'ws' | 'sse';

export interface Operation {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

export interface Answer {
  /** HTTP status (SSE: the stream's, or the refusal's); null over WebSocket. */
  status: number | null;
  code: string | undefined;
  message: string;
  /** Whether any result carried data (a refused operation carries none, or only nulls). */
  data: boolean;
  /** The socket was closed by the server, with this code. */
  closeCode: number | null;
}

const OPERATION_TIMEOUT_MS = 10_000;

interface RawError {
  message?: string;
  extensions?: { code?: string };
}

function firstError(errors: unknown): { code: string | undefined; message: string } {
  const list = Array.isArray(errors) ? (errors as RawError[]) : [errors as RawError];
  const e = list[0] ?? {};
  return { code: e.extensions?.code, message: String(e.message ?? e) };
}

function hasData(data: unknown): boolean {
  return data !== null && data !== undefined && Object.values(data as Record<string, unknown>).some((v) => v !== null);
}

/** graphql-ws hands `error` GraphQL errors (refused before execution), an Error, or the close event. */
function wsError(e: unknown): { code: string | undefined; message: string } {
  if (Array.isArray(e)) return firstError(e);
  if (e instanceof Error) return { code: undefined, message: e.message };
  const close = e as { code?: unknown; reason?: unknown };
  if (typeof close.code === 'number') return { code: `CLOSE_${close.code}`, message: String(close.reason ?? '') };
  return firstError(e);
}

/** One operation over WebSocket; the first result or error decides (a subscription is then disposed). */
export function overWebSocket(baseUrl: string, token: string, op: Operation): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let closeCode: number | null = null;
    let done = false;
    const client = createWsClient({
      url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: true,
      retryAttempts: 0,
      on: { closed: (e) => (closeCode = (e as { code?: number }).code ?? null) },
    });
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no answer over WebSocket in ${OPERATION_TIMEOUT_MS} ms`))),
      OPERATION_TIMEOUT_MS,
    );
    const finish = (then: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void client.dispose();
      then();
    };
    client.subscribe(op, {
      next: (result) =>
        finish(() =>
          resolve({
            status: null,
            ...(result.errors ? firstError(result.errors) : { code: undefined, message: '' }),
            data: hasData(result.data),
            closeCode,
          }),
        ),
      error: (e) => finish(() => resolve({ status: null, ...wsError(e), data: false, closeCode })),
      complete: () =>
        finish(() =>
          resolve({ status: null, code: undefined, message: 'completed without a result', data: false, closeCode }),
        ),
    });
  });
}

/** One operation over SSE; a refusal before the stream (401, 400, 413) is read from its JSON body. */
export function overSse(baseUrl: string, token: string, op: Operation): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let done = false;
    const client = createSseClient({
      url: `${baseUrl}/graphql/stream`,
      singleConnection: false,
      headers: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no answer over SSE in ${OPERATION_TIMEOUT_MS} ms`))),
      OPERATION_TIMEOUT_MS,
    );
    const finish = (then: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.dispose();
      then();
    };
    client.subscribe(op, {
      next: (result) =>
        finish(() =>
          resolve({
            status: 200,
            ...(result.errors ? firstError(result.errors) : { code: undefined, message: '' }),
            data: hasData(result.data),
            closeCode: null,
          }),
        ),
      error: (e) => {
        const response = e instanceof NetworkError ? (e.response as Response | undefined) : undefined;
        if (!response)
          return finish(() =>
            resolve({
              status: null,
              ...(e instanceof Error ? { code: undefined, message: e.message } : firstError(e)),
              data: false,
              closeCode: null,
            }),
          );
        void response.text().then((text) => {
          let parsed: { errors?: unknown } = {};
          try {
            parsed = JSON.parse(text) as { errors?: unknown };
          } catch {
            // not JSON: no code
          }
          finish(() =>
            resolve({
              status: response.status,
              ...firstError(parsed.errors ?? [{ message: text }]),
              data: false,
              closeCode: null,
            }),
          );
        });
      },
      complete: () =>
        finish(() =>
          resolve({
            status: 200,
            code: undefined,
            message: 'completed without a result',
            data: false,
            closeCode: null,
          }),
        ),
    });
  });
}

/**
 * One `subscribe` over WebSocket with a payload as given, unchecked (graphql-ws's client refuses to
 * send a payload that is not an operation object, a batch for one): the first `next`, `error` or the
 * socket's close decides.
 */
export function overRawWebSocket(baseUrl: string, token: string, payload: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    let done = false;
    const finish = (answer: Answer | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.close();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(
      () => finish(new Error(`no answer over WebSocket in ${OPERATION_TIMEOUT_MS} ms`)),
      OPERATION_TIMEOUT_MS,
    );
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    ws.on('error', (e) => finish(e));
    ws.on('close', (code, reason) =>
      finish({ status: null, code: `CLOSE_${code}`, message: reason.toString(), data: false, closeCode: code }),
    );
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as {
        type: string;
        payload?: { data?: unknown; errors?: unknown } | unknown[];
      };
      if (m.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
      else if (m.type === 'error') finish({ status: null, ...firstError(m.payload), data: false, closeCode: null });
      else if (m.type === 'next') {
        const result = m.payload as { data?: unknown; errors?: unknown };
        finish({
          status: null,
          ...(result.errors ? firstError(result.errors) : { code: undefined, message: '' }),
          data: hasData(result.data),
          closeCode: null,
        });
      }
    });
  });
}
