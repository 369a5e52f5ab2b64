/**
 * One VICI connection to charon (a unix socket). charon answers a connection's requests one at a
 * time and in order, so requests here are sent one at a time too: a streamed command's events
 * (`list-sas` → `list-sa` events, then its response) cannot interleave with another request's.
 * Events registered with `register` arrive at any time through `onEvent`.
 *
 * A request that gets no answer before its timeout leaves the connection out of step (a late answer
 * would be taken for the next request's), so a timeout closes the connection; its owner reconnects.
 * A request's timeout runs from the call, queue included: one whose time is up before it was written
 * is dropped unwritten (a disconnect then did not happen, and never will).
 */
import { connect, type Socket } from 'node:net';
import { emptyMessage, encodePacket, ViciFrameReader, type ViciMessage, type ViciPacket } from './vici-codec.js';

export interface ViciHandlers {
  onEvent?(name: string, message: ViciMessage): void;
  /** Called once, when the connection ends for any reason (after `close()` too). */
  onClose?(error: string): void;
}

/** The request was not answered: `written` says whether charon may have received (and acted on) it. */
export class ViciRequestError extends Error {
  constructor(
    message: string,
    readonly written: boolean,
  ) {
    super(message);
    this.name = 'ViciRequestError';
  }
}

interface Pending {
  expect: 'command' | 'event-confirm';
  resolve(packet: ViciPacket): void;
  reject(error: ViciRequestError): void;
}

/** `unix:/path`, `unix:///path` or a plain path. */
export function viciSocketPath(address: string): string {
  return address.replace(/^unix:(\/\/)?/, '');
}

export class ViciConnection {
  private readonly reader = new ViciFrameReader();
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closedWith: string | null = null;
  /** Events of a streamed command in progress, collected instead of handed to `onEvent`. */
  private collecting: { event: string; into: ViciMessage[] } | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly handlers: ViciHandlers,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.close(e.message));
    socket.on('close', () => this.close('the VICI socket closed'));
  }

  /** Connects to the socket at `address`; rejects (with nothing sent) if that fails within `timeoutMs`. */
  static open(address: string, handlers: ViciHandlers, timeoutMs: number): Promise<ViciConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(viciSocketPath(address));
      const timer = setTimeout(() => fail(`no VICI connection to ${address} within ${timeoutMs} ms`), timeoutMs);
      const fail = (message: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ViciRequestError(message, false));
      };
      socket.once('error', (e) => fail(`cannot connect to the VICI socket ${address}: ${e.message}`));
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ViciConnection(socket, handlers));
      });
    });
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** Runs command `name`; resolves with charon's response message (`CMD_UNKNOWN` rejects). */
  async command(name: string, message: ViciMessage = emptyMessage(), timeoutMs = 5_000): Promise<ViciMessage> {
    const reply = await this.exchange({ type: 'CMD_REQUEST', name, message }, 'command', timeoutMs);
    if (reply.type !== 'CMD_RESPONSE')
      throw new ViciRequestError(`charon does not know the VICI command ${name}`, true);
    return reply.message;
  }

  /**
   * A streamed command: registers `event`, runs `name`, and resolves with every `event` message that
   * came before the response, then unregisters.
   */
  async stream(
    name: string,
    event: string,
    message: ViciMessage = emptyMessage(),
    timeoutMs = 5_000,
  ): Promise<{ response: ViciMessage; events: ViciMessage[] }> {
    await this.register(event, timeoutMs);
    const events: ViciMessage[] = [];
    this.collecting = { event, into: events };
    try {
      const response = await this.command(name, message, timeoutMs);
      return { response, events };
    } finally {
      this.collecting = null;
      if (!this.closed) await this.exchange({ type: 'EVENT_UNREGISTER', name: event }, 'event-confirm', timeoutMs);
    }
  }

  /** Asks charon for `event` messages; rejects when charon does not know the event. */
  async register(event: string, timeoutMs = 5_000): Promise<void> {
    const reply = await this.exchange({ type: 'EVENT_REGISTER', name: event }, 'event-confirm', timeoutMs);
    if (reply.type !== 'EVENT_CONFIRM')
      throw new ViciRequestError(`charon does not know the VICI event ${event}`, true);
  }

  close(error = 'closed'): void {
    if (this.closedWith !== null) return;
    this.closedWith = error;
    this.socket.destroy();
    const p = this.pending;
    this.pending = null;
    p?.reject(new ViciRequestError(`the VICI connection closed before charon answered (${error})`, true));
    this.handlers.onClose?.(error);
  }

  /**
   * One request and its answer, after every earlier one, within `timeoutMs` of this call. A request
   * still queued behind an earlier one when that time is up (charon stalled on a `list-sas`) is dropped
   * and never written: it rejects with `written` false, so nothing it asked for can happen later.
   */
  private exchange(packet: ViciPacket, expect: Pending['expect'], timeoutMs: number): Promise<ViciPacket> {
    const deadline = performance.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      let dropped = false;
      const drop = (): void => {
        dropped = true;
        reject(
          new ViciRequestError(
            `not written: charon was still busy with an earlier request after ${timeoutMs} ms`,
            false,
          ),
        );
      };
      const queued = setTimeout(drop, timeoutMs);
      const run = this.chain.then(() => {
        clearTimeout(queued);
        if (dropped) return;
        const left = deadline - performance.now();
        if (left <= 0) return drop();
        return this.send(packet, expect, left, timeoutMs).then(resolve, reject);
      });
      this.chain = run.catch(() => undefined);
    });
  }

  /** Writes `packet` and waits `leftMs` for its answer (`timeoutMs`: the request's whole time, for the message). */
  private send(packet: ViciPacket, expect: Pending['expect'], leftMs: number, timeoutMs: number): Promise<ViciPacket> {
    if (this.closedWith !== null)
      return Promise.reject(new ViciRequestError(`the VICI connection is closed (${this.closedWith})`, false));
    const frame = encodePacket(packet);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close(`charon did not answer within ${timeoutMs} ms`);
      }, leftMs);
      this.pending = {
        expect,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(frame);
    });
  }

  private onData(chunk: Buffer): void {
    let packets: ViciPacket[];
    try {
      packets = this.reader.push(chunk);
    } catch (e) {
      this.close((e as Error).message);
      return;
    }
    for (const p of packets) this.onPacket(p);
  }

  private onPacket(p: ViciPacket): void {
    if (p.type === 'EVENT') {
      if (this.collecting?.event === p.name) this.collecting.into.push(p.message);
      else this.handlers.onEvent?.(p.name, p.message);
      return;
    }
    const isCommandReply = p.type === 'CMD_RESPONSE' || p.type === 'CMD_UNKNOWN';
    const isEventReply = p.type === 'EVENT_CONFIRM' || p.type === 'EVENT_UNKNOWN';
    const pending = this.pending;
    if (!pending || (pending.expect === 'command' ? !isCommandReply : !isEventReply)) {
      this.close(`unexpected ${p.type} from charon`);
      return;
    }
    this.pending = null;
    pending.resolve(p);
  }
}
