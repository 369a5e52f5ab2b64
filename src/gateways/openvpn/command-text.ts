/** Builds management command lines whose free-text parts are safe to send. */
import type { DisconnectMode } from '../../domain/session.js';

/**
 * The daemon parses a command line like a config line: a double-quoted argument may hold spaces, and
 * `\"` / `\\` escape. One argument may be at most 255 characters ("Parameter … too long (256 chars max)").
 */
export function quoteArg(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Longest argument we send, in bytes; under the daemon's 256-character limit with room to spare. */
const MAX_ARG_BYTES = 240;

/** Control characters would end the command line or garble the client's log. */
function clean(text: string | null | undefined): string {
  let out = '';
  for (const ch of text ?? '') {
    const code = ch.codePointAt(0) ?? 0;
    out += code < 0x20 || code === 0x7f ? ' ' : ch;
  }
  return out.replace(/ {2,}/g, ' ').trim();
}

function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const chars = Array.from(text.slice(0, maxBytes));
  while (Buffer.byteLength(chars.join('')) > maxBytes) chars.pop();
  return chars.join('');
}

/**
 * The `client-kill` message: `HALT` or `RESTART`, optionally `,<text for the user>`. The client logs
 * `Halt command was pushed by server ('<text>')` (HALT) or `Connection reset command was pushed by
 * server ('<text>')` (RESTART).
 */
export function killMessage(mode: DisconnectMode, message: string | null | undefined): string {
  const text = clean(message);
  return truncateBytes(text ? `${mode},${text}` : mode, MAX_ARG_BYTES);
}

export function clientKillCommand(clientId: number, mode: DisconnectMode, message: string | null | undefined): string {
  return `client-kill ${clientId} ${quoteArg(killMessage(mode, message))}`;
}

/** `clientReason` reaches the client as `AUTH_FAILED,<clientReason>`. */
export function clientDenyCommand(clientId: number, keyId: number, reason: string, clientReason: string): string {
  return `client-deny ${clientId} ${keyId} ${quoteArg(truncateBytes(clean(reason), MAX_ARG_BYTES))} ${quoteArg(truncateBytes(clean(clientReason), MAX_ARG_BYTES))}`;
}
