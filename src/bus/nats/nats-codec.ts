/**
 * What bus values look like on the NATS wire: JSON text, `undefined` as an empty message, and a
 * failed request as an error reply in the NATS services convention (the `Nats-Service-Error` and
 * `Nats-Service-Error-Code` headers), so tools such as the NATS CLI show it for what it is.
 */
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

export const ERROR_HEADER = 'Nats-Service-Error';
export const ERROR_CODE_HEADER = 'Nats-Service-Error-Code';

/** JSON text of `data`; throws (as `JSON.stringify` does) for values JSON cannot carry. */
export function encodePayload(data: unknown): Uint8Array {
  const text = JSON.stringify(data);
  return text === undefined ? EMPTY : encoder.encode(text);
}

/** A value given as its JSON text, as `encodePayload` would have written it. */
export function encodeJson(json: string): Uint8Array {
  return encoder.encode(json);
}

/** The value of a message; throws a `SyntaxError` if it is not JSON. */
export function decodePayload(msg: Msg): unknown {
  return msg.data.length === 0 ? undefined : msg.json<unknown>();
}

/** An error reply: the full message in the body, a one-line copy in the header. */
export function errorReply(message: string): { payload: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  // A header value is one line; the body keeps the message whole.
  h.set(ERROR_HEADER, message.replace(/[\r\n]+/g, ' ').slice(0, 512));
  h.set(ERROR_CODE_HEADER, '500');
  return { payload: encodePayload({ error: message }), headers: h };
}

/** The error message of an error reply, or null when `msg` is a normal reply. */
export function replyError(msg: Msg): string | null {
  const h = msg.headers;
  if (!h || !h.has(ERROR_CODE_HEADER)) return null;
  try {
    const body = decodePayload(msg) as { error?: unknown } | undefined;
    if (typeof body?.error === 'string') return body.error;
  } catch {
    /* not ours: fall back to the header */
  }
  return h.get(ERROR_HEADER) || `error ${h.get(ERROR_CODE_HEADER)}`;
}
