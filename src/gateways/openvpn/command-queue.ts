/**
 * The management interface answers commands strictly in order and without ids, so replies are matched
 * to commands first in, first out. Replies are one `SUCCESS:`/`ERROR:` line, or (for `status`, `state`,
 * `version`, …) lines up to `END`; a multi-line command may also answer with one `ERROR:` line.
 *
 * Pipelining rules:
 * - A single-line-reply command (`client-kill`, `kill`, `client-auth-nt`, `hold release`…) is written at
 *   once, up to `maxInFlight` written and unanswered; the daemon reads every complete line it receives
 *   and answers each in turn.
 * - A multi-line-reply command is a barrier: it is written only when nothing else is in flight, and
 *   nothing is written behind it until its reply is complete. Its framing is the only one that can be
 *   misread, and a misread there must not shift every reply behind it onto the wrong command. Nothing
 *   is lost: while the daemon still has reply bytes to send it reads no further commands anyway.
 * - A command that times out before it was written is dropped and never written (a timed-out kill must
 *   not happen later behind the caller's back). One that times out after it was written stays in line:
 *   its reply is read and dropped when it comes, so the replies behind it stay aligned.
 * - No reply completed for `stuckAfterMs` while something is in flight: the link is reset.
 * - A multi-line reply past `maxReplyChars` without its `END`: the link is reset (a daemon sending
 *   without end would otherwise fill the agent's memory within `stuckAfterMs`).
 */
import { GatewayUnavailableError } from '../adapter.js';

export interface CommandReply {
  /** false for an `ERROR:` reply. */
  ok: boolean;
  /** Text after `SUCCESS: ` / `ERROR: ` ('' for a multi-line reply). */
  message: string;
  /** The lines of a multi-line reply, without `END`. */
  lines: string[];
}

interface Pending {
  text: string;
  multiline: boolean;
  lines: string[];
  /** Characters of `lines` so far. */
  chars: number;
  sent: boolean;
  /** The caller has been answered (or timed out): a late reply is read and dropped. */
  settled: boolean;
  resolve(reply: CommandReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export interface CommandQueueIo {
  write(text: string): void;
  /** The oldest command in flight has had no reply for `stuckAfterMs`: the link should be reset. */
  onStuck(text: string): void;
  stuckAfterMs: number;
  /** The multi-line reply to `text` ran past `maxReplyChars`: the link should be reset. */
  onTooLong?(text: string): void;
  /** Most characters of one multi-line reply. Default: no bound. */
  maxReplyChars?: number;
  /**
   * Most single-line commands written and unanswered at once (default DEFAULT_MAX_IN_FLIGHT); 1 means
   * one at a time.
   */
  maxInFlight?: number;
}

/**
 * Single-line commands in flight by default. The daemon reads its management socket a line at a time
 * whatever the depth; the depth sets how many kills of a bulk disconnect one round trip carries, and
 * so how many of their echoes (`>CLIENT:DISCONNECT`) arrive together for the control plane to settle
 * in one transaction: at 32, runs of about 32; at 128, about the bulk's 100 kills in flight, with half
 * the statements and transactions per session.
 */
export const DEFAULT_MAX_IN_FLIGHT = 128;

export class CommandQueue {
  /** Written, reply not complete yet, in the order written (= the order of the replies). */
  private readonly inFlight: Pending[] = [];
  /** Not written yet, in the order asked. */
  private readonly waiting: Pending[] = [];
  private stuckTimer: NodeJS.Timeout | undefined;
  private readonly maxInFlight: number;

  constructor(private readonly io: CommandQueueIo) {
    this.maxInFlight = Math.max(1, io.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  }

  enqueue(text: string, timeoutMs: number, multiline: boolean): Promise<CommandReply> {
    return new Promise((resolve, reject) => {
      const item: Pending = {
        text,
        multiline,
        lines: [],
        chars: 0,
        sent: false,
        settled: false,
        resolve,
        reject,
        timer: undefined,
      };
      item.timer = setTimeout(() => this.expire(item, timeoutMs), timeoutMs);
      this.waiting.push(item);
      this.pump();
    });
  }

  /** A non-notification line from the daemon: part of the reply to the oldest command in flight. */
  onReplyLine(line: string): void {
    const head = this.inFlight[0];
    if (!head) return; // nothing asked: a stray line (never seen in practice)
    if (!head.multiline) return this.complete(head, single(line));
    if (head.lines.length === 0 && /^(SUCCESS|ERROR):/.test(line)) return this.complete(head, single(line));
    if (line === 'END') return this.complete(head, { ok: true, message: '', lines: head.lines });
    head.chars += line.length + 1;
    if (head.chars > (this.io.maxReplyChars ?? Number.POSITIVE_INFINITY)) {
      head.lines = [];
      return this.io.onTooLong?.(head.text);
    }
    head.lines.push(line);
  }

  /**
   * The link dropped: every waiting caller is rejected with `reason`. Commands written before it may
   * have been executed (`mayTakeEffect`); those still waiting were never written.
   */
  failAll(reason: string): void {
    clearTimeout(this.stuckTimer);
    this.stuckTimer = undefined;
    for (const item of [...this.inFlight.splice(0), ...this.waiting.splice(0)]) {
      clearTimeout(item.timer);
      if (!item.settled) {
        item.settled = true;
        item.reject(new GatewayUnavailableError(reason, { mayTakeEffect: item.sent }));
      }
    }
  }

  /** Writes waiting commands as far as the rules above allow. */
  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      const busy = this.inFlight.length;
      if (busy >= this.maxInFlight || (busy > 0 && (next.multiline || this.inFlight[0]!.multiline))) return;
      this.waiting.shift();
      next.sent = true;
      this.inFlight.push(next);
      if (busy === 0) this.armStuck();
      this.io.write(next.text);
    }
  }

  /** Watches the oldest command in flight; re-armed on every complete reply. */
  private armStuck(): void {
    clearTimeout(this.stuckTimer);
    const head = this.inFlight[0];
    this.stuckTimer = head
      ? setTimeout(() => this.io.onStuck(head.text), Math.max(this.io.stuckAfterMs, 1))
      : undefined;
  }

  private complete(item: Pending, reply: CommandReply): void {
    clearTimeout(item.timer);
    this.inFlight.shift();
    this.armStuck();
    if (!item.settled) {
      item.settled = true;
      item.resolve(reply);
    }
    this.pump();
  }

  private expire(item: Pending, timeoutMs: number): void {
    if (item.settled) return;
    item.settled = true;
    // Not written yet: it never will be, so a timed-out kill cannot happen later behind the caller's back.
    if (!item.sent) {
      const i = this.waiting.indexOf(item);
      if (i >= 0) this.waiting.splice(i, 1);
    }
    // Written and unanswered: the daemon has it and may still run it (a stalled daemon does, once resumed).
    item.reject(
      new GatewayUnavailableError(`no answer to "${item.text.split(' ')[0]}" within ${timeoutMs} ms`, {
        mayTakeEffect: item.sent,
      }),
    );
    if (!item.sent) this.pump(); // it may have been a barrier holding the commands behind it
  }
}

function single(line: string): CommandReply {
  const ok = !line.startsWith('ERROR:');
  return { ok, message: line.replace(/^(SUCCESS|ERROR):\s?/, ''), lines: [] };
}
