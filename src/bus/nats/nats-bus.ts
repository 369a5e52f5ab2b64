/**
 * The bus over NATS core (no JetStream: bus messages are live signals, and agents resend full
 * snapshots, so nothing needs to be stored). One connection per process; it reconnects forever.
 */
import {
  ClosedConnectionError,
  connect,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type ConnectionOptions,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import {
  BusTimeoutError,
  DEFAULT_SUBJECT_PREFIX,
  SUBJECT_PREFIX_PATTERN,
  type Bus,
  type SubscribeOptions,
  type Unsubscribe,
} from '../bus.js';
import { decodePayload, encodeJson, encodePayload, errorReply, replyError } from './nats-codec.js';
import { credsFileAuthenticator, nkeySeedFileAuthenticator } from './nats-auth-files.js';
import { isAuthorizationError, toConnectError, type NatsAuthKind } from './nats-connect-error.js';
import { probeTls, type NatsTlsFiles } from './nats-tls-probe.js';
import { watchConnection, type NatsBusStatus } from './nats-status.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { parseNatsUrl, scrubSecrets, type NatsCredentials } from './nats-url.js';
import { errorText } from '../../domain/errors.js';

export type { NatsBusStatus } from './nats-status.js';

export interface NatsBusOptions {
  /** `nats://host:4222`, several separated by commas; may carry `user:pass@` or `token@` (never logged). */
  url: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A `.creds` file (user JWT and NKEY seed), read at each (re)connection. */
  credsFile?: string;
  /** A file whose first line is an NKEY user seed, read at each (re)connection. */
  nkeySeedFile?: string;
  /**
   * TLS files (CA, client certificate and key), read at each (re)connection. Given (even empty), TLS
   * is required, as with a `tls://` URL.
   */
  tls?: NatsTlsFiles | null;
  /** Client name shown in the server's monitoring pages. */
  name?: string;
  logger?: Logger;
  /** Wait between reconnect attempts, plus a random share of as much again so replicas spread out. Default 1000. */
  reconnectWaitMs?: number;
  /** Deadline of the first connection's handshake. Default 5000. */
  connectTimeoutMs?: number;
  /** How long `close()` lets handlers still running finish and answer before it closes hard. Default 5000. */
  closeGraceMs?: number;
  /**
   * The deployment's namespace: every subject this bus touches is `<prefix>.<subject>`, and its reply
   * inboxes are `_INBOX_<prefix>.…`. Default `switchboard`. One NATS can carry several deployments.
   */
  prefix?: string;
  /**
   * A ping to the server this often; two unanswered count as a lost connection. Default 10000, so a
   * replica cut off without a reset (a silent partition) notices within about 30 s, not the
   * client's default of minutes, and ends its live subscriptions with BUS_UNAVAILABLE.
   */
  pingIntervalMs?: number;
}

/**
 * Connects, or fails at once with a `NatsConnectError` (unreachable, refused credentials, a TLS
 * certificate refused by either side), so a misconfigured process stops at start-up; once connected,
 * it reconnects forever.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const target = parseNatsUrl(options.url, { user: options.user, pass: options.pass, token: options.token });
  const secrets = [target.pass, target.token];
  const wait = options.reconnectWaitMs ?? 1000;
  const config: ConnectionOptions = {
    servers: target.servers,
    timeout: options.connectTimeoutMs ?? 5000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: wait,
    reconnectJitter: wait,
    // "Forever" includes credentials refused for a while (a server restarting with a new config):
    // a bus that gave up would fail silently, one that keeps trying logs and recovers.
    ignoreAuthErrorAbort: true,
    pingInterval: options.pingIntervalMs ?? 10_000,
    maxPingOut: 2,
  };
  if (target.user !== undefined) config.user = target.user;
  if (target.pass !== undefined) config.pass = target.pass;
  if (target.token !== undefined) config.token = target.token;
  if (options.credsFile !== undefined) config.authenticator = credsFileAuthenticator(options.credsFile);
  if (options.nkeySeedFile !== undefined) config.authenticator = nkeySeedFileAuthenticator(options.nkeySeedFile);
  if (options.name !== undefined) config.name = options.name;
  const prefix = options.prefix ?? DEFAULT_SUBJECT_PREFIX;
  if (!SUBJECT_PREFIX_PATTERN.test(prefix))
    throw new Error(`invalid NATS subject prefix ${JSON.stringify(prefix.slice(0, 80))}`);
  // Replies of one deployment on inboxes of its own, so NATS permissions can keep deployments apart.
  config.inboxPrefix = `_INBOX_${prefix}`;
  const tls = options.tls ?? (target.tls ? {} : null);
  if (tls !== null) config.tls = { ...tls };
  let nc: NatsConnection;
  try {
    nc = await connect(config);
  } catch (e) {
    // The client cannot tell a client certificate the server refused from a timeout: ask the server.
    const verdict =
      tls !== null && !isAuthorizationError(e) ? await probeTls(target.servers[0]!, tls, config.timeout!) : null;
    throw toConnectError(e, { servers: target.servers, auth: authKind(target, options), secrets, tls: verdict });
  }
  const logger = options.logger ?? silentLogger;
  logger.info({ server: nc.getServer(), name: options.name }, 'nats bus connected');
  return new NatsBus(nc, { logger, secrets, closeGraceMs: options.closeGraceMs ?? 5000, prefix });
}

function authKind(target: NatsCredentials, options: NatsBusOptions): NatsAuthKind {
  if (options.credsFile !== undefined) return 'credentials file';
  if (options.nkeySeedFile !== undefined) return 'NKEY seed';
  if (target.user !== undefined) return 'user/password';
  if (target.token !== undefined) return 'token';
  return 'none';
}

type Handler = (data: unknown, subject: string) => void | Promise<void>;
type Server = (data: unknown) => Promise<unknown>;

/** The bus over one NATS connection. Create it with `connectNatsBus`. */
export class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  private readonly subs = new Set<Subscription>();
  /**
   * Subscribers without a queue group, by subject: one NATS subscription per subject, whose messages
   * are decoded once and handed to each. Two subscriptions of one subject would have the server send
   * every message twice and this process parse each twice: replicas subscribe twice to every gateway
   * report (sync and blocks), and a fleet's snapshots made that parsing a fifth of a replica's CPU.
   */
  private readonly fanouts = new Map<string, { handlers: Set<Handler>; stop: Unsubscribe }>();
  /** Handlers still running; `close()` gives them a grace period to finish and answer. */
  private readonly inflight = new Set<Promise<void>>();
  private readonly listeners = new Set<(status: NatsBusStatus) => void>();
  private up = true;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: { logger: Logger; secrets: Array<string | undefined>; closeGraceMs: number; prefix: string },
  ) {
    watchConnection(nc, {
      logger: o.logger,
      scrub: (text) => scrubSecrets(text, o.secrets),
      closing: () => this.closing !== null,
      report: (status) => {
        if (status.type === 'disconnected' || status.type === 'closed') this.up = false;
        if (status.type === 'reconnected') this.up = true;
        this.emit(status);
      },
    });
  }

  /** True while the connection is up (false between a disconnect and the reconnect, and after close). */
  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  onConnectedChange(listener: (connected: boolean) => void): Unsubscribe {
    let last = this.connected;
    return this.onStatus(() => {
      const now = this.connected;
      if (now === last) return;
      last = now;
      listener(now);
    });
  }

  async flush(timeoutMs: number): Promise<void> {
    if (!this.connected) throw new Error('the nats bus is not connected');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.nc.flush(),
        new Promise<never>(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error(`the nats server did not answer within ${timeoutMs} ms`)),
              timeoutMs,
            )),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls `listener` on every disconnect, reconnect, server error and the final close. */
  onStatus(listener: (status: NatsBusStatus) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(subject: string, data: unknown): Promise<void> {
    if (this.closed()) return; // as the memory bus: nothing is delivered after close
    // While disconnected the client buffers, and sends on reconnect. On a connection lost for good
    // (not closed by us) it throws, and the caller hears of it.
    this.nc.publish(this.full(subject), encodePayload(data));
  }

  async publishJson(subject: string, json: string): Promise<void> {
    if (this.closed()) return;
    this.nc.publish(this.full(subject), encodeJson(json));
  }

  /** Handlers of one subject in this process get the same decoded value: they read it, never change it. */
  subscribe(subject: string, handler: Handler, options?: SubscribeOptions): Unsubscribe {
    if (options?.queue !== undefined) return this.listen(subject, options, (msg) => this.deliver(msg, [handler]));
    let fanout = this.fanouts.get(subject);
    if (!fanout) {
      const handlers = new Set<Handler>();
      fanout = { handlers, stop: this.listen(subject, undefined, (msg) => this.deliver(msg, [...handlers])) };
      this.fanouts.set(subject, fanout);
    }
    const mine = fanout;
    // The same function subscribed twice is two subscribers, as on the memory bus.
    const entry: Handler = (data, relative) => handler(data, relative);
    mine.handlers.add(entry);
    return () => {
      if (!mine.handlers.delete(entry) || mine.handlers.size > 0) return;
      if (this.fanouts.get(subject) === mine) this.fanouts.delete(subject);
      mine.stop();
    };
  }

  private deliver(msg: Msg, handlers: Handler[]): void {
    let data: unknown;
    try {
      data = decodePayload(msg);
    } catch {
      this.o.logger.warn({ subject: msg.subject }, 'nats bus message is not JSON; dropped');
      return;
    }
    const relative = msg.subject.slice(this.o.prefix.length + 1);
    for (const handler of handlers) {
      this.track(
        (async () => handler(data, relative))().catch((e: unknown) => {
          this.o.logger.warn({ subject: msg.subject, err: errorText(e) }, 'bus subscriber failed');
        }),
      );
    }
  }

  serve(subject: string, handler: Server, options?: SubscribeOptions): Unsubscribe {
    return this.listen(subject, options, (msg) => {
      if (!msg.reply) {
        this.o.logger.debug({ subject: msg.subject }, 'nats bus request without a reply subject; ignored');
        return;
      }
      this.track(this.answer(msg, handler));
    });
  }

  async request(subject: string, data: unknown, options: { timeoutMs: number }): Promise<unknown> {
    subject = this.full(subject);
    if (this.closed()) throw new BusTimeoutError(subject, true);
    // While disconnected the client would buffer the request and send it on reconnect, after the
    // caller has been told it failed: a disconnect answered GATEWAY_UNAVAILABLE would then still
    // happen, later, unaudited. Fail at once instead; nothing is sent (so: as if nobody served it).
    if (!this.up) throw new BusTimeoutError(subject, true);
    const payload = encodePayload(data);
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, payload, { timeout: Math.max(1, Math.ceil(options.timeoutMs)) });
    } catch (e) {
      throw toBusError(e, subject);
    }
    const failure = replyError(reply);
    if (failure !== null) throw new Error(failure);
    try {
      return decodePayload(reply);
    } catch {
      throw new Error(`the reply on ${subject} is not JSON`);
    }
  }

  /** Stops taking messages, lets running handlers finish (within the grace period), then drains the connection. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const orderly = async () => {
      const subs = [...this.subs];
      this.subs.clear();
      await Promise.allSettled(subs.map((s) => s.drain()));
      await Promise.allSettled([...this.inflight]);
      await this.nc.drain();
    };
    // A drain needs the server; while it is away (or a handler hangs), close hard after the grace period.
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      orderly().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.o.closeGraceMs))),
    ]);
    clearTimeout(timer);
    if (!done && !this.nc.isClosed()) await this.nc.close().catch(() => {});
  }

  private listen(subject: string, options: SubscribeOptions | undefined, onMsg: (msg: Msg) => void): Unsubscribe {
    if (this.closing) return () => {}; // as the memory bus: nothing is delivered after close
    const sub = this.nc.subscribe(this.full(subject), {
      ...(options?.queue !== undefined ? { queue: options.queue } : {}),
      // A throw inside this callback would close the whole connection: nothing may escape it.
      callback: (err, msg) => {
        if (err) {
          this.o.logger.warn({ subject, err: this.scrub(err.message) }, 'nats bus subscription failed');
          return;
        }
        try {
          onMsg(msg);
        } catch (e) {
          this.o.logger.warn({ subject: msg.subject, err: errorText(e) }, 'bus handler failed');
        }
      },
    });
    this.subs.add(sub);
    return () => {
      this.subs.delete(sub);
      if (!sub.isClosed()) sub.unsubscribe();
    };
  }

  /** Runs a serve handler and answers: its value, or an error reply carrying its error's message. */
  private async answer(msg: Msg, handler: Server): Promise<void> {
    let data: unknown;
    try {
      data = decodePayload(msg);
    } catch {
      this.respond(msg, errorReply(`the request on ${msg.subject} is not JSON`));
      return;
    }
    try {
      this.respond(msg, { payload: encodePayload(await handler(data)) });
    } catch (e) {
      this.o.logger.debug({ subject: msg.subject, err: errorText(e) }, 'bus server answered with an error');
      this.respond(msg, errorReply(errorText(e)));
    }
  }

  private respond(msg: Msg, reply: { payload: Uint8Array; headers?: MsgHdrs }): void {
    try {
      msg.respond(reply.payload, reply.headers ? { headers: reply.headers } : undefined);
    } catch (e) {
      this.o.logger.warn({ subject: msg.subject, err: errorText(e) }, 'nats bus could not send a reply');
    }
  }

  /** Closed by us. Until the connection itself drains, handlers finishing in the grace period may still publish. */
  private closed(): boolean {
    return this.closing !== null && (this.nc.isDraining() || this.nc.isClosed());
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private emit(status: NatsBusStatus): void {
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  /** The subject on the server: in this deployment's namespace. */
  private full(subject: string): string {
    return `${this.o.prefix}.${subject}`;
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.o.secrets);
  }
}

/** Client errors of a request, as the port names them. */
function toBusError(e: unknown, subject: string): unknown {
  if (e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders()))
    return new BusTimeoutError(subject, true);
  if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError)
    return new BusTimeoutError(subject, true);
  // A timeout, or the connection dropped while waiting: either way no reply came.
  if (e instanceof TimeoutError || e instanceof RequestError) return new BusTimeoutError(subject);
  return e;
}
