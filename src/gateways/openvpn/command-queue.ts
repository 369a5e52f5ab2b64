/**
 * The management interface answers commands strictly in order and without ids, so exactly one
 * command is in flight: the next one is written only once the reply to the previous one is complete.
 * Replies are one `SUCCESS:`/`ERROR:` line, or (for `status`, `state`, `version`, …) lines up to `END`.
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
  sent: boolean;
  /** The caller has been answered (or timed out): a late reply is read and dropped. */
  settled: boolean;
  resolve(reply: CommandReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  stuckTimer: NodeJS.Timeout | undefined;
}

export interface CommandQueueIo {
  write(text: string): void;
  /** The command in flight has had no reply for `stuckAfterMs`: the link should be reset. */
  onStuck(text: string): void;
  stuckAfterMs: number;
}

export class CommandQueue {
  private readonly items: Pending[] = [];

  constructor(private readonly io: CommandQueueIo) {}

  enqueue(text: string, timeoutMs: number, multiline: boolean): Promise<CommandReply> {
    return new Promise((resolve, reject) => {
      const item: Pending = { text, multiline, lines: [], sent: false, settled: false, resolve, reject, timer: undefined, stuckTimer: undefined };
      item.timer = setTimeout(() => this.expire(item, timeoutMs), timeoutMs);
      this.items.push(item);
      if (this.items.length === 1) this.sendHead();
    });
  }

  /** A non-notification line from the daemon: part of the reply to the command in flight. */
  onReplyLine(line: string): void {
    const head = this.items[0];
    if (!head?.sent) return; // nothing asked: a stray line (never seen in practice)
    if (!head.multiline) return this.complete(head, single(line));
    if (head.lines.length === 0 && /^(SUCCESS|ERROR):/.test(line)) return this.complete(head, single(line));
    if (line === 'END') return this.complete(head, { ok: true, message: '', lines: head.lines });
    head.lines.push(line);
  }

  /** The link dropped: every waiting caller is rejected with `error`. */
  failAll(error: Error): void {
    for (const item of this.items.splice(0)) {
      clearTimeout(item.timer);
      clearTimeout(item.stuckTimer);
      if (!item.settled) item.reject(error);
    }
  }

  private sendHead(): void {
    const head = this.items[0];
    if (!head || head.sent) return;
    head.sent = true;
    head.stuckTimer = setTimeout(() => this.io.onStuck(head.text), Math.max(this.io.stuckAfterMs, 1));
    this.io.write(head.text);
  }

  private complete(item: Pending, reply: CommandReply): void {
    clearTimeout(item.timer);
    clearTimeout(item.stuckTimer);
    this.items.shift();
    if (!item.settled) {
      item.settled = true;
      item.resolve(reply);
    }
    this.sendHead();
  }

  private expire(item: Pending, timeoutMs: number): void {
    if (item.settled) return;
    item.settled = true;
    // Not written yet: it never will be, so a timed-out kill cannot happen later behind the caller's back.
    if (!item.sent) {
      const i = this.items.indexOf(item);
      if (i >= 0) this.items.splice(i, 1);
    }
    item.reject(new GatewayUnavailableError(`no answer to "${item.text.split(' ')[0]}" within ${timeoutMs} ms`));
  }
}

function single(line: string): CommandReply {
  const ok = !line.startsWith('ERROR:');
  return { ok, message: line.replace(/^(SUCCESS|ERROR):\s?/, ''), lines: [] };
}
