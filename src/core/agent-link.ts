import { newId } from '../domain/ids.js';
import { subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import {
  GatewayUnavailableError,
  type AdapterEvent,
  type DisconnectCommand,
  type GatewayAdapter,
  type GatewayConfig,
} from '../gateways/adapter.js';
import type { Logger } from '../domain/logger.js';
import {
  blockListSchema,
  disconnectBatchRequestSchema,
  disconnectRequestSchema,
  gatewayReportSchema,
  MAX_SNAPSHOT_PART_SESSIONS,
  readWire,
  replicaHelloSchema,
  unreportable,
  versioned,
  WIRE_VERSION,
  type DisconnectBatchReply,
  type DisconnectReply,
  type GatewayDescriptor,
  type GatewayReloadChange,
  type GatewayReport,
  type Versioned,
} from './reports.js';
import { errorText } from '../domain/errors.js';
import { GATEWAY_PROBLEM } from '../domain/gateway.js';
import type { GatewayChanges } from './gateway-reload.js';
import type { SessionReport } from '../domain/session.js';

/** Sessions left out for a name the contract cannot carry, remembered so each is logged once; cleared past this. */
const MAX_UNREPORTABLE_LOGGED = 10_000;
/** The queue group of every agent serving a gateway's disconnect subject (see `add`). */
export const DISCONNECT_QUEUE = 'agents';
/** Agent's slack: it answers a little before the caller's deadline, so a late SUCCESS is not lost. */
const DEADLINE_MARGIN_MS = 100;
/**
 * Sessions per snapshot part: about 250 KB of JSON, a quarter of NATS's default 1 MB message limit
 * even with long names, and one transaction's worth for sync.
 */
export const SNAPSHOT_PART_SESSIONS = MAX_SNAPSHOT_PART_SESSIONS;

/**
 * Connects gateway adapters to the bus: every adapter event becomes a GatewayReport, every disconnect
 * request on the bus becomes one adapter call, answered with the daemon's confirmation. The same code
 * runs in-process (single host) and in `switchboard agent` (many hosts, NATS). No store, no tokens.
 */
export class AgentLink {
  readonly agentId = newId('agent');
  private seq = 0;
  /** `gatewayId ref` of the sessions left out of reports (see `reportable`) already logged. */
  private readonly unreportableLogged = new Set<string>();
  private lastAt = 0;
  private readonly unsubscribes: Unsubscribe[] = [];
  /** The gateways this link serves now, with what stops serving each one's disconnect subject. */
  private readonly adapters = new Map<string, { adapter: GatewayAdapter; unserve: Unsubscribe }>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** A round of snapshots for replicas' hellos is running; another hello came meanwhile. */
  private helloRound = false;
  private helloAgain = false;

  constructor(
    private readonly deps: {
      bus: Bus;
      adapters: GatewayAdapter[];
      logger: Logger;
      heartbeatMs?: number;
      now?: () => number;
      /**
       * The deployment this agent serves (SWITCHBOARD_DEPLOYMENT_ID): a kill request that names another,
       * or none, is refused NOT_SENT unread. Unset: any request on its subjects is served.
       */
      deploymentId?: string | null;
    },
  ) {}

  start(): void {
    const { bus } = this.deps;
    for (const adapter of this.deps.adapters) this.add(adapter);
    // A replica that starts after this agent (or meets a gateway it does not know) asks for a fresh
    // snapshot instead of waiting for the periodic one.
    this.unsubscribes.push(bus.subscribe(subjects.replicaHello, (data) => this.hello(data)));
    this.heartbeat = setInterval(() => this.beat(), this.deps.heartbeatMs ?? 5000);
    this.heartbeat.unref();
    this.beat();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const u of this.unsubscribes.splice(0)) u();
    await Promise.all([...this.adapters.keys()].map((id) => this.remove(id)));
  }

  /** Starts serving one more gateway (a reload added it): its disconnects, its reports. */
  add(adapter: GatewayAdapter): void {
    const id = adapter.config.id;
    if (this.adapters.has(id)) throw new Error(`gateway ${id} is served already`);
    const { bus } = this.deps;
    // One queue group: a request reaches one agent of the gateway, and its answer is that agent's. With
    // two agents serving one gateway (a second one started by mistake), every one of them got each
    // request and the first answer won: one without the daemon's link answered NOT_SENT ("still
    // online") while the other's kill ran.
    const stops = [
      bus.serve(
        subjects.gatewayDisconnect(id),
        async (data) => versioned(await this.receiveDisconnect(adapter, data)),
        {
          queue: DISCONNECT_QUEUE,
        },
      ),
    ];
    // Before the adapter starts: its first snapshot brings the blocks back (see core/blocks.ts).
    if (adapter.setBlocks)
      stops.push(bus.subscribe(subjects.gatewayBlocks(id), (data) => this.receiveBlocks(adapter, data)));
    this.adapters.set(id, { adapter, unserve: () => stops.forEach((stop) => stop()) });
    adapter.start((event) => this.report(adapter, event));
  }

  /**
   * Stops serving a gateway (a reload removed or replaced it, or the agent stops), lets go of its
   * daemon's socket and then says goodbye: a link-down that ends this run's reports of the gateway,
   * so the control plane shows the link down at once instead of after the liveness window. Sent after
   * the socket is let go of (a new agent may take the link only then) and after every earlier report
   * (the adapter's event hook is gone, and the gateway is out of the heartbeat), before the bus closes.
   */
  async remove(id: string, why: string = GATEWAY_PROBLEM.agentStopped): Promise<void> {
    const served = this.adapters.get(id);
    if (!served) return;
    this.adapters.delete(id);
    served.unserve();
    try {
      await served.adapter.stop();
    } finally {
      this.send(id, { type: 'link-down', error: why, stopped: true });
    }
  }

  /**
   * Applies a reload of the gateway file: removed gateways stop being served (their goodbye says the
   * agent stopped), changed ones are served anew by a fresh adapter (their goodbye says a reload
   * changed them, which their `lastError` keeps after the new link is up), added ones start.
   */
  async reload(changes: GatewayChanges, adapterFor: (gateway: GatewayConfig) => GatewayAdapter): Promise<void> {
    for (const id of changes.removed) await this.remove(id);
    for (const g of changes.changed) await this.remove(g.id, GATEWAY_PROBLEM.reloadChanged);
    for (const g of [...changes.changed, ...changes.added]) this.add(adapterFor(g));
  }

  /**
   * Tells the control plane what a reload of the gateway file did to one gateway (it audits it). Sent
   * after `add` or `remove`, on the gateway's own subject, so it follows that gateway's last report.
   */
  reloaded(gatewayId: string, change: GatewayReloadChange, error?: string): void {
    this.send(gatewayId, {
      type: 'gateway.reload',
      change,
      ...(error === undefined ? {} : { error: error.slice(0, 1000) }),
    });
  }

  /** The adapters served now. */
  private current(): GatewayAdapter[] {
    return [...this.adapters.values()].map((a) => a.adapter);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * A replica's hello: a heartbeat (the gateway's row) and a snapshot (its sessions) of every gateway.
   * Hellos that arrive while those snapshots run are answered by one more round after them, not one
   * each: a replica subscribed before it said hello, so the round after it reaches it too.
   */
  private async hello(data: unknown): Promise<void> {
    const hello = readWire(replicaHelloSchema, data);
    if (!hello.ok) {
      this.deps.logger.warn(
        { problem: hello.problem, detail: hello.detail },
        'replica hello refused: it does not fit the wire contract',
      );
      return;
    }
    if (this.helloRound) {
      this.helloAgain = true;
      return;
    }
    this.helloRound = true;
    try {
      do {
        this.helloAgain = false;
        this.beat();
        await Promise.all(
          this.current()
            .filter((a) => a.isConnected())
            .map((a) =>
              a.snapshot().catch((e: unknown) => {
                this.deps.logger.warn(
                  { gatewayId: a.config.id, err: errorText(e) },
                  "snapshot for a replica's hello failed; the periodic one follows",
                );
              }),
            ),
        );
      } while (this.helloAgain);
    } finally {
      this.helloRound = false;
    }
  }

  private beat(): void {
    for (const adapter of this.current()) {
      this.heartbeatOf(adapter);
    }
  }

  private heartbeatOf(adapter: GatewayAdapter): void {
    this.send(adapter, {
      type: 'heartbeat',
      gateway: descriptor(adapter),
      linkUp: adapter.isConnected(),
      daemonResponding: adapter.isResponding(),
    });
  }

  private report(adapter: GatewayAdapter, event: AdapterEvent): void {
    switch (event.type) {
      case 'snapshot': {
        const { daemonStartedAt } = event;
        const sessions = this.reportable(adapter, event.sessions);
        const count = Math.max(1, Math.ceil(sessions.length / SNAPSHOT_PART_SESSIONS));
        const id = count > 1 ? newId('snapshot') : null;
        for (let index = 0; index < count; index++) {
          const part = sessions.slice(index * SNAPSHOT_PART_SESSIONS, (index + 1) * SNAPSHOT_PART_SESSIONS);
          this.send(adapter, {
            type: 'snapshot',
            gateway: descriptor(adapter),
            daemonStartedAt,
            sessions: part,
            ...(id ? { part: { id, index, count } } : {}),
          });
        }
        return;
      }
      case 'session.connected':
        if (this.reportable(adapter, [event.session]).length === 0) return;
        return this.send(adapter, { type: 'session.connected', session: event.session });
      case 'session.disconnected':
        return this.send(adapter, {
          type: 'session.disconnected',
          ref: event.ref,
          cause: event.cause,
          bytesReceived: event.bytesReceived,
          bytesSent: event.bytesSent,
        });
      case 'link-down':
        return this.send(adapter, { type: 'link-down', error: event.error });
      case 'auth-denied':
        return this.send(adapter, {
          type: 'auth-denied',
          userName: event.userName,
          reason: event.reason,
          clientAddress: event.clientAddress,
        });
      case 'capabilities':
        // At once rather than at the next heartbeat: a disconnect must not ask for a block it cannot get.
        return this.heartbeatOf(adapter);
      case 'responding':
        // Told at once, not at the next beat: operators see the stall within the probe's window.
        return this.heartbeatOf(adapter);
    }
  }

  /**
   * `sessions` without those whose identity the wire contract cannot carry (`unreportable`): a report
   * with one is refused whole, so one such session kept every snapshot of its gateway from being
   * applied and the gateway's record went stale. It is left out instead, logged once (its ref and the
   * name's length, never the name), and the gateway's other sessions are reported as usual. Such a
   * session is not in the record; its name never changes while it lasts, so it never was.
   */
  private reportable(adapter: GatewayAdapter, sessions: SessionReport[]): SessionReport[] {
    let kept: SessionReport[] | null = null;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i]!;
      const why = unreportable(s);
      if (why === null) {
        kept?.push(s);
        continue;
      }
      kept ??= sessions.slice(0, i);
      const key = `${adapter.config.id} ${s.ref}`;
      if (this.unreportableLogged.has(key)) continue;
      if (this.unreportableLogged.size >= MAX_UNREPORTABLE_LOGGED) this.unreportableLogged.clear();
      this.unreportableLogged.add(key);
      this.deps.logger.warn(
        { gatewayId: adapter.config.id, ref: s.ref, problem: why },
        'a session the wire contract cannot carry is left out of the gateway reports',
      );
    }
    return kept ?? sessions;
  }

  private send(
    to: GatewayAdapter | string,
    body: DistributiveOmit<GatewayReport, 'gatewayId' | 'agentId' | 'seq' | 'at' | 'deploymentId'>,
  ): void {
    const id = typeof to === 'string' ? to : to.config.id;
    // Strictly increasing `at`: sync compares a snapshot's time with sessions' last-seen times.
    this.lastAt = Math.max(this.now(), this.lastAt + 1);
    // Versioned as it is made: every caller hands a body of its own making, completed in place (the
    // same keys in the same order as a copy `{ ...body, gatewayId, … }` would have, without the copy).
    const report = body as Versioned<GatewayReport>;
    report.gatewayId = id;
    report.agentId = this.agentId;
    report.seq = ++this.seq;
    report.at = this.lastAt;
    if (this.deps.deploymentId) report.deploymentId = this.deps.deploymentId;
    report.version = WIRE_VERSION;
    // Checked before it leaves the process: a replica would refuse it anyway, and here the agent's log
    // says why. On the in-process bus it leaves no process: the intake it reaches checks it against the
    // same schema (and logs a refusal), so it is checked once there.
    const checked = this.deps.bus.kind === 'memory' ? null : gatewayReportSchema.safeParse(report);
    if (checked && !checked.success) {
      const issue = checked.error.issues[0];
      this.deps.logger.warn(
        { gatewayId: id, type: report.type, problem: issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid' },
        'gateway report does not fit the wire contract; not sent',
      );
      return;
    }
    this.deps.bus.publish(subjects.gatewayReport(id), report).catch((e) => {
      this.deps.logger.warn(
        { err: e, gatewayId: id, type: report.type },
        'could not publish gateway report; the next snapshot heals it',
      );
    });
  }

  private receiveBlocks(adapter: GatewayAdapter, data: unknown): void {
    const list = readWire(blockListSchema, data);
    if (!list.ok || list.value.gatewayId !== adapter.config.id) {
      this.deps.logger.warn(
        { gatewayId: adapter.config.id, detail: list.ok ? 'names another gateway' : list.detail },
        'block list refused: it does not fit the wire contract',
      );
      return;
    }
    adapter.setBlocks?.(list.value.blocks, list.value.lifted);
  }

  /**
   * A request that does not fit the contract is answered NOT_SENT: nothing reached the daemon. A batch
   * of kills (it carries `kills`) gets one reply per kill, in order, once every kill was answered;
   * a batch that does not fit is refused whole, unread, as one request this agent cannot read.
   */
  private async receiveDisconnect(
    adapter: GatewayAdapter,
    data: unknown,
  ): Promise<DisconnectReply | DisconnectBatchReply> {
    if (typeof data === 'object' && data !== null && 'kills' in data) {
      const batch = readWire(disconnectBatchRequestSchema, data);
      if (!batch.ok) return this.refused(adapter, batch);
      const { kills, deadlineMs, deploymentId } = batch.value;
      const other = this.otherDeployment(adapter, deploymentId);
      if (other) return { replies: kills.map(() => other) };
      return { replies: await Promise.all(kills.map((k) => this.disconnect(adapter, k, deadlineMs))) };
    }
    const req = readWire(disconnectRequestSchema, data);
    if (!req.ok) return this.refused(adapter, req);
    const { deadlineMs, deploymentId, ...kill } = req.value;
    return this.otherDeployment(adapter, deploymentId) ?? this.disconnect(adapter, kill, deadlineMs);
  }

  /** NOT_SENT for a request of another deployment than the one this agent was told it serves; else null. */
  private otherDeployment(adapter: GatewayAdapter, from: string | undefined): DisconnectReply | null {
    const mine = this.deps.deploymentId ?? null;
    if (mine === null || from === mine) return null;
    const detail = `this agent serves deployment ${mine}; the request came from ${from ?? 'a replica that does not say its deployment'}`;
    this.deps.logger.error(
      { gatewayId: adapter.config.id, deploymentId: mine, requestDeploymentId: from ?? null },
      'disconnect request of another deployment refused: two deployments share this NATS prefix?',
    );
    return { outcome: 'NOT_SENT', detail };
  }

  private refused(adapter: GatewayAdapter, req: { problem: string; detail: string }): DisconnectReply {
    this.deps.logger.warn(
      { gatewayId: adapter.config.id, problem: req.problem, detail: req.detail },
      'disconnect request refused: it does not fit the wire contract',
    );
    return { outcome: 'NOT_SENT', detail: `request refused by the agent: ${req.detail}` };
  }

  /** `kill`: checked against the contract (its fields, and only those, are the adapter's command). */
  private async disconnect(
    adapter: GatewayAdapter,
    kill: DisconnectCommand,
    deadlineMs: number,
  ): Promise<DisconnectReply> {
    if (!adapter.isConnected()) return { outcome: 'NOT_SENT', detail: 'the link to the daemon is down' };
    if (!adapter.isResponding())
      return { outcome: 'NOT_SENT', detail: 'the daemon is not responding (no answer to the liveness probe)' };
    try {
      const outcome = await adapter.disconnect(kill, Math.max(50, deadlineMs - DEADLINE_MARGIN_MS));
      return { outcome };
    } catch (e) {
      // The adapter knows whether the command was written: only then may the daemon still act on it.
      if (e instanceof GatewayUnavailableError)
        return { outcome: e.mayTakeEffect ? 'UNCONFIRMED' : 'NOT_SENT', detail: e.message };
      this.deps.logger.error({ err: e, gatewayId: adapter.config.id }, 'disconnect failed in the adapter');
      return { outcome: 'UNCONFIRMED', detail: errorText(e) };
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function descriptor(adapter: GatewayAdapter): GatewayDescriptor {
  const c = adapter.config;
  const caps = adapter.capabilities?.() ?? { canBlock: false, warning: null };
  return {
    name: c.name,
    region: c.region,
    protocol: c.protocol,
    mode: c.mode,
    canBlock: caps.canBlock,
    warning: caps.warning,
  };
}
