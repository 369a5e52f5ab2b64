/**
 * One persistent connection to an OpenVPN management interface (`unix:/path` or `tcp://host:port`).
 * The daemon serves a single management client at a time, so this is the only one: it answers the
 * password prompt, pipelines commands (see command-queue.ts for the rules), hands every `>`
 * notification to `onNotification` (also those that arrive between the lines of a reply), and
 * reconnects with backoff until stopped. Commands are taken only once the link is authenticated (the
 * daemon would read anything sent before as the password), and every reconnect starts with an empty
 * queue.
 */
import { createConnection, type Socket } from 'node:net';
import { GatewayUnavailableError } from '../adapter.js';
import type { Logger } from '../../domain/logger.js';
import { NotificationAssembler, NotificationTooLongError, type Notification } from './notification-parser.js';
import { CommandQueue, type CommandReply } from './command-queue.js';
import { errorText } from '../../domain/errors.js';

export type { CommandReply } from './command-queue.js';

export interface ManagementClientOptions {
  /** `unix:/path/to/socket` or `tcp://host:port`. */
  address: string;
  /** Called on every connect; returns the management password, or null when none is configured. */
  password?: () => Promise<string | null>;
  logger: Logger;
  /** How long to wait for the banner after connecting (a second client is never served). Default 5 s. */
  readyTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, in ms. Defaults 100 and 5 000. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** No reply this long while commands are in flight means the daemon is wedged: the link is reset. Default 30 s. */
  stuckAfterMs?: number;
  /** Most single-line-reply commands written and unanswered at once. Default 32. */
  maxCommandsInFlight?: number;
  /** Longest line taken from the daemon, in characters. Default MAX_LINE_CHARS. */
  maxLineChars?: number;
  /** Most characters of one multi-line reply or one `>CLIENT:` block. Default MAX_MESSAGE_CHARS. */
  maxMessageChars?: number;
}

/**
 * What the daemon may send before the link is reset as broken, so that a daemon (or whatever answers on
 * its socket) sending without end cannot take the agent's memory, and with it every other gateway the
 * agent serves. A line: the longest real ones are `>CLIENT:ENV` values (a username is at most a few KiB,
 * a certificate subject less). A message: `status 3` is about 250 characters a client, so 64 Mi is
 * some 250,000 clients.
 */
export const MAX_LINE_CHARS = 1024 * 1024;
export const MAX_MESSAGE_CHARS = 64 * 1024 * 1024;

export interface ManagementHandlers {
  /** The link is up and authenticated; commands may be sent. */
  onReady(): void;
  /** The link went down (or could not be established); called once per outage. */
  onDown(error: string): void;
  onNotification(notification: Notification): void;
}

type Target = { path: string } | { host: string; port: number };

const PASSWORD_PROMPT = 'ENTER PASSWORD:';

/**
 * Commands after which the daemon reads further lines up to `END` (`client-auth CID KID`, `rsa-sig`…):
 * with pipelining, the commands written behind one would be swallowed as its extra lines.
 */
const READS_EXTRA_LINES = /^(client-auth|client-pf|rsa-sig|pk-sig|certificate)(\s|$)/;

export function parseManagementAddress(address: string): Target {
  if (address.startsWith('unix:')) {
    const path = address.slice(5).replace(/^\/\/(?=\/)/, '');
    if (path) return { path };
  }
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(address);
  if (tcp?.[1] && tcp[2]) return { host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  throw new Error(`management address must be unix:/path or tcp://host:port, got ${JSON.stringify(address)}`);
}

export class ManagementClient {
  private readonly target: Target;
  private readonly queue: CommandQueue;
  private readonly assembler: NotificationAssembler;
  private readonly maxLineChars: number;
  private socket: Socket | null = null;
  private buffer = '';
  private phase: 'idle' | 'auth' | 'ready' = 'idle';
  private passwordSent = false;
  private stopped = true;
  private downReported = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private closeReason: string | null = null;
  private closed: Promise<void> = Promise.resolve();
  private chunks = 0;
  /** Command lines handed over in this turn of the event loop, written together once it ends (see `write`). */
  private out: { socket: Socket; text: string } | null = null;

  constructor(
    private readonly options: ManagementClientOptions,
    private readonly handlers: ManagementHandlers,
  ) {
    this.target = parseManagementAddress(options.address);
    this.maxLineChars = options.maxLineChars ?? MAX_LINE_CHARS;
    const maxMessageChars = options.maxMessageChars ?? MAX_MESSAGE_CHARS;
    this.assembler = new NotificationAssembler(maxMessageChars);
    this.queue = new CommandQueue({
      write: (text) => this.write(text),
      onStuck: (text) =>
        this.reset(`daemon did not answer "${text.split(' ')[0]}" for ${this.options.stuckAfterMs ?? 30_000} ms`),
      onTooLong: (text) =>
        this.reset(`the reply to "${text.split(' ')[0]}" ran past ${maxMessageChars} characters without its END`),
      stuckAfterMs: options.stuckAfterMs ?? 30_000,
      maxInFlight: options.maxCommandsInFlight,
      maxReplyChars: maxMessageChars,
    });
  }

  get connected(): boolean {
    return this.phase === 'ready';
  }

  /** Chunks read from the daemon so far: it changes whenever the daemon sends anything (liveness). */
  get received(): number {
    return this.chunks;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.reset('stopped');
    await this.closed;
  }

  /**
   * Sends one command (pipelined behind those in flight). Resolves with the reply (`ok` false for
   * `ERROR:`); rejects with GatewayUnavailableError when the link is down, drops, or `timeoutMs` passes.
   */
  command(text: string, options: { timeoutMs: number; multiline?: boolean }): Promise<CommandReply> {
    if (/[\r\n]/.test(text)) return Promise.reject(new Error('a management command is one line'));
    if (READS_EXTRA_LINES.test(text))
      return Promise.reject(new Error(`"${text.split(' ')[0]}" takes extra lines; not supported`));
    if (this.phase !== 'ready') return Promise.reject(new GatewayUnavailableError('the management link is down'));
    this.options.logger.debug({ command: text }, 'openvpn management command');
    return this.queue.enqueue(text, options.timeoutMs, options.multiline ?? false);
  }

  private connect(): void {
    const socket = createConnection(this.target);
    this.socket = socket;
    this.buffer = '';
    this.passwordSent = false;
    this.closeReason = null;
    this.phase = 'auth';
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    this.readyTimer = setTimeout(
      () => this.reset('no management banner (is another management client connected?)'),
      this.options.readyTimeoutMs ?? 5_000,
    );
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (e) => {
      this.closeReason ??= e.message;
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onData(chunk: string): void {
    this.chunks += 1;
    const buffer = this.buffer + chunk;
    let start = 0;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n', start)) {
      const end = nl > start && buffer.charCodeAt(nl - 1) === 13 ? nl - 1 : nl; // drop a `\r`
      if (end - start > this.maxLineChars) return this.lineTooLong();
      const line = buffer.slice(start, end);
      start = nl + 1;
      this.onLine(line);
      if (this.socket === null || this.socket.destroyed) return;
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
    if (this.buffer.length > this.maxLineChars) return this.lineTooLong();
    // The prompt is not newline-terminated.
    if (this.phase === 'auth' && this.buffer.startsWith(PASSWORD_PROMPT)) {
      this.buffer = this.buffer.slice(PASSWORD_PROMPT.length);
      void this.answerPrompt();
    }
  }

  /**
   * Hands one command line to the socket. The lines of one turn of the event loop (a bulk's batch of
   * kills, the pipelined kills that one chunk of replies lets go) leave in one write when it ends, not
   * a write each. A line counts as written from here on (the queue marked it sent): a link lost before
   * the write answers its command UNCONFIRMED, never NOT_SENT, as for any command written.
   */
  private write(text: string): void {
    const socket = this.socket;
    if (socket === null) return;
    if (this.out !== null && this.out.socket === socket) {
      this.out.text += `${text}\n`;
      return;
    }
    const out = { socket, text: `${text}\n` };
    this.out = out;
    process.nextTick(() => {
      if (this.out === out) this.out = null;
      // The link it was meant for is gone (its commands were failed with it): nothing goes to a later one.
      if (socket === this.socket) socket.write(out.text);
    });
  }

  private async answerPrompt(): Promise<void> {
    // A second prompt means the daemon rejected the password we sent.
    if (this.passwordSent) return this.reset('the daemon rejected the management password');
    this.passwordSent = true;
    let password: string | null = null;
    try {
      password = (await this.options.password?.()) ?? null;
    } catch (e) {
      return this.reset(`cannot read the management password: ${errorText(e)}`);
    }
    if (password === null) return this.reset('the daemon asks for a management password, but none is configured');
    this.socket?.write(`${password}\n`);
  }

  private lineTooLong(): void {
    this.buffer = '';
    this.reset(`the daemon sent a line of more than ${this.maxLineChars} characters`);
  }

  private onLine(line: string): void {
    if (line.startsWith('>')) {
      if (this.phase === 'auth' && line.startsWith('>INFO:')) return this.becomeReady();
      let notification: Notification | null;
      try {
        notification = this.assembler.push(line);
      } catch (e) {
        if (e instanceof NotificationTooLongError) return this.reset(e.message);
        throw e;
      }
      if (notification) this.handlers.onNotification(notification);
      return;
    }
    if (this.phase === 'auth') return; // `SUCCESS: password is correct`
    this.queue.onReplyLine(line);
  }

  private becomeReady(): void {
    clearTimeout(this.readyTimer);
    this.phase = 'ready';
    this.attempt = 0;
    this.downReported = false;
    this.options.logger.info({ address: this.options.address }, 'openvpn management link up');
    this.handlers.onReady();
  }

  /** Drops the connection; `onClose` does the bookkeeping. */
  private reset(reason: string): void {
    if (!this.socket) return;
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    clearTimeout(this.readyTimer);
    const reason = this.closeReason ?? 'the daemon closed the management connection';
    this.socket = null;
    this.phase = 'idle';
    this.assembler.reset();
    this.queue.failAll(`management link down: ${reason}`);
    if (!this.downReported && !this.stopped) {
      this.downReported = true;
      this.options.logger.warn({ address: this.options.address, reason }, 'openvpn management link down');
      this.handlers.onDown(reason);
    }
    if (!this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const initial = this.options.backoffInitialMs ?? 100;
    const max = this.options.backoffMaxMs ?? 5_000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delay);
  }
}
