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
