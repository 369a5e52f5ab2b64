/**
 * Parses the management interface's real-time lines (those starting with `>`), including the
 * multi-line `>CLIENT:…` blocks, which are assembled into one notification per block.
 */

/** The `>CLIENT:` events that carry an ENV block. */
export type ClientEventName = 'CONNECT' | 'REAUTH' | 'ESTABLISHED' | 'DISCONNECT' | 'CR_RESPONSE';

export type Notification =
  /** `env` never holds `password` (dropped while parsing) nor a challenge response. */
  | { kind: 'client'; event: ClientEventName; cid: number; kid: number | null; env: Record<string, string> }
  | { kind: 'client-address'; cid: number; address: string; primary: boolean }
  | { kind: 'state'; state: StateLine }
  | { kind: 'other'; source: string; text: string };

/** One line of `state` output or of a `>STATE:` notification. */
export interface StateLine {
  /** Seconds since the epoch when the daemon entered this state. */
  time: number;
  name: string;
  detail: string;
}

/** ENV keys that are secrets: they are dropped before a notification leaves the parser. */
const SECRET_ENV_KEYS = new Set(['password']);

/** Parses `1795964221,CONNECTED,SUCCESS,10.77.0.1,,,127.0.0.1,11990`. */
export function parseStateLine(line: string): StateLine | null {
  const parts = line.split(',');
  const time = Number(parts[0]);
  if (parts.length < 2 || !Number.isSafeInteger(time) || parts[0] === '') return null;
  return { time, name: parts[1] ?? '', detail: parts[2] ?? '' };
}

/**
 * Feed it every notification line in order; it returns a notification when one is complete. The
 * daemon guarantees a `>CLIENT:` header, its ENV lines and `>CLIENT:ENV,END` arrive together.
 */
/** A `>CLIENT:` block ran past its bound without `>CLIENT:ENV,END`: the link should be reset. */
export class NotificationTooLongError extends Error {
  constructor(maxChars: number) {
    super(`a >CLIENT: block ran past ${maxChars} characters without its ENV,END`);
    this.name = 'NotificationTooLongError';
  }
}

export class NotificationAssembler {
  private pending: Extract<Notification, { kind: 'client' }> | null = null;
  /** Characters of the block being assembled. */
  private pendingChars = 0;

  /** `maxBlockChars`: most characters of one `>CLIENT:` block, ENV lines included. */
  constructor(private readonly maxBlockChars = Number.POSITIVE_INFINITY) {}

  push(line: string): Notification | null {
    const colon = line.indexOf(':');
    if (!line.startsWith('>') || colon < 0) return null;
    const source = line.slice(1, colon);
    const text = line.slice(colon + 1);
    if (source === 'CLIENT') return this.client(text);
    if (source === 'STATE') {
      const state = parseStateLine(text);
      return state ? { kind: 'state', state } : { kind: 'other', source, text };
    }
    return { kind: 'other', source, text };
  }

  /** Forgets a half-received block (the connection dropped in the middle of it). */
  reset(): void {
    this.pending = null;
  }

  private client(text: string): Notification | null {
    if (text.startsWith('ENV,')) {
      const kv = text.slice(4);
      if (kv === 'END') {
        const done = this.pending;
        this.pending = null;
        return done;
      }
      if (this.pending) {
        this.pendingChars += text.length;
        if (this.pendingChars > this.maxBlockChars) {
          this.pending = null;
          throw new NotificationTooLongError(this.maxBlockChars);
        }
      }
      const eq = kv.indexOf('=');
      if (this.pending && eq > 0) {
        const key = kv.slice(0, eq);
        if (!SECRET_ENV_KEYS.has(key)) this.pending.env[key] = kv.slice(eq + 1);
      }
      return null;
    }
    const [event, a, b, c] = text.split(',');
    const cid = Number(a);
    if (a === undefined || a === '' || !Number.isSafeInteger(cid))
      return { kind: 'other', source: 'CLIENT', text: event ?? '' };
    switch (event) {
      case 'ADDRESS':
        return { kind: 'client-address', cid, address: b ?? '', primary: c === '1' };
      case 'CONNECT':
      case 'REAUTH':
      case 'CR_RESPONSE':
        // CR_RESPONSE's third field is the user's challenge answer: never kept.
        this.pending = { kind: 'client', event, cid, kid: Number(b), env: {} };
        this.pendingChars = 0;
        return null;
      case 'ESTABLISHED':
      case 'DISCONNECT':
        this.pending = { kind: 'client', event, cid, kid: null, env: {} };
        this.pendingChars = 0;
        return null;
      default:
        return { kind: 'other', source: 'CLIENT', text: event ?? '' };
    }
  }
}
