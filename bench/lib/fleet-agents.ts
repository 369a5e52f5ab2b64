/**
 * Simulated agents for the fleet benchmark, many in one process (forked by fleet.ts, driven over IPC).
 * Each simulated gateway is one real `AgentLink` (the code `switchboard agent` runs) over one real NATS
 * bus connection per process, with a `FakeAdapter` in place of the daemon: every message on the wire is
 * built, validated and versioned by the product's own code, and disconnect requests are answered by it.
 * What is simulated is only the daemon: its sessions, its periodic snapshots, clients coming and going.
 */
import { writeFileSync } from 'node:fs';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats/nats-bus.js';
import { AgentLink } from '../../src/core/agent-link.js';
import { silentLogger } from '../../src/domain/logger.js';
import { everyIntervalSpread } from '../../src/gateways/periodic.js';
import { FakeAdapter } from '../../test/support/fake-adapter.js';

export interface FleetAgentsSpec {
  natsUrl: string;
  prefix: string;
  /** The gateway ids this process simulates. */
  gatewayIds: string[];
  sessionsPerGateway: number;
  heartbeatMs: number;
  snapshotIntervalMs: number;
}

/** bench → agents. */
export type FleetCommand =
  | { type: 'start'; spec: FleetAgentsSpec }
  /** Clients leaving and coming at this many per second in total (one leaves, one comes: the count holds). */
  | { type: 'churn'; perSecond: number }
  /** Every gateway: one client leaves and one comes, now (used while no replica listens). */
  | { type: 'change-each' }
  | { type: 'stats' }
  /** Start recording this process's timeline (fleet.ts's BENCH_REPLICA_TIMELINE), or stop and write it to `file`. */
  | { type: 'timeline'; file?: string }
  | { type: 'stop' };

/** agents → bench. */
export type FleetReply =
  | { type: 'started'; sessions: number }
  | { type: 'churning' }
  | { type: 'changed'; changes: { gatewayId: string; endedRef: string; newRef: string }[] }
  | { type: 'stats'; rssBytes: number; sessions: number; churned: number; disconnectsServed: number }
  | { type: 'stopped' }
  | { type: 'timeline' }
  | { type: 'error'; error: string };

interface SimGateway {
  adapter: FakeAdapter;
  link: AgentLink;
  /** Refs online now, for picking one to leave in O(1). */
  refs: string[];
}

let bus: NatsBus | null = null;
const gateways: SimGateway[] = [];
const timers: NodeJS.Timeout[] = [];
let churnTimer: NodeJS.Timeout | null = null;
let churned = 0;
let userSeq = 0;

const send = (m: FleetReply) => process.send!(m);

/**
 * With the benchmark's BENCH_REPLICA_TIMELINE: this process's event-loop stalls (a 2 ms timer late by
 * 5 ms or more, epoch ms, with the process CPU over the gap), each periodic snapshot's synchronous
 * part and each disconnect the stand-in daemons served, as replica-timeline.ts records a replica's.
 */
const timeline = {
  on: false,
  stall: [] as [number, number, number][],
  snapshot: [] as [number, number][],
  disconnect: [] as [number, number][],
};
const at = () => Math.round((performance.timeOrigin + performance.now()) * 100) / 100;
{
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    if (timeline.on && now - last >= 5) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      timeline.stall.push([
        Math.round((performance.timeOrigin + last) * 100) / 100,
        Math.round((performance.timeOrigin + now) * 100) / 100,
        Math.round(cpuMs * 100) / 100,
      ]);
    }
    last = now;
    lastCpu = cpu;
  }, 2).unref();
}

function pick<T>(xs: T[]): T {
  return xs[Math.floor(Math.random() * xs.length)]!;
}

/**
 * Sessions that `change-each` brought while the replicas were down. The churn leaves them alone: one
 * that came and went before any replica was back would never be seen by any, and the reconcile check
 * (which looks for it in the store) would wait for it forever (seen: 997 of 1,000 gateways matched).
 */
const keep = new Set<string>();

/** A client leaves `g` by itself (a delta on the wire), one comes (another delta). */
function swap(g: SimGateway): { endedRef: string; newRef: string } {
  let i = Math.floor(Math.random() * g.refs.length);
  for (let tries = 0; keep.has(g.refs[i]!) && tries < 8; tries++) i = Math.floor(Math.random() * g.refs.length);
  if (keep.has(g.refs[i]!))
    i = Math.max(
      0,
      g.refs.findIndex((r) => !keep.has(r)),
    );
  const endedRef = g.refs[i]!;
  g.adapter.quit(endedRef);
  const { ref: newRef } = g.adapter.connect(`fu${++userSeq}`);
  g.refs[i] = newRef;
  churned++;
  return { endedRef, newRef };
}

async function start(spec: FleetAgentsSpec): Promise<number> {
  bus = await connectNatsBus({ url: spec.natsUrl, prefix: spec.prefix, name: 'switchboard-bench-fleet-agents' });
  const n = spec.gatewayIds.length;
  for (const [k, id] of spec.gatewayIds.entries()) {
    const adapter = new FakeAdapter({ id, name: id, region: 'fleet', mode: 'observe' });
    for (let i = 0; i < spec.sessionsPerGateway; i++) adapter.connect(`fu${++userSeq}`);
    const g: SimGateway = {
      adapter,
      link: new AgentLink({ bus, adapters: [adapter], logger: silentLogger, heartbeatMs: spec.heartbeatMs }),
      refs: [...adapter.sessions.keys()],
    };
    // The disconnect answer removes the session from the adapter: keep `refs` in step.
    const disconnect = adapter.disconnect.bind(adapter);
    adapter.disconnect = async (command, deadlineMs) => {
      const t0 = at();
      const outcome = await disconnect(command, deadlineMs);
      const i = g.refs.indexOf(command.ref);
      if (i >= 0) g.refs.splice(i, 1);
      if (timeline.on) timeline.disconnect.push([t0, at()]);
      return outcome;
    };
    const snapshot = adapter.snapshot.bind(adapter);
    adapter.snapshot = () => {
      const t0 = at();
      const r = snapshot();
      if (timeline.on) timeline.snapshot.push([t0, at()]);
      return r;
    };
    gateways.push(g);
    // Started within one heartbeat period (a fleet restarted at once): the starts (first heartbeat
    // and snapshot) do not all fall in the same millisecond. The periodic snapshots are scheduled as
    // the real adapters schedule theirs (src/gateways/periodic.ts): each at its own phase.
    const offset = Math.floor((k / n) * spec.heartbeatMs);
    timers.push(
      setTimeout(() => {
        g.link.start();
        everyIntervalSpread(timers, spec.snapshotIntervalMs, () => void adapter.snapshot());
      }, offset),
    );
  }
  await new Promise((r) => setTimeout(r, spec.heartbeatMs + 10));
  await bus.flush(30_000);
  return gateways.reduce((a, g) => a + g.adapter.sessions.size, 0);
}

function churn(perSecond: number): void {
  if (churnTimer) clearInterval(churnTimer);
  churnTimer = null;
  if (perSecond <= 0) return;
  const tickMs = 100;
  let owed = 0;
  churnTimer = setInterval(() => {
    owed += (perSecond * tickMs) / 1000;
    for (; owed >= 1; owed--) swap(pick(gateways));
  }, tickMs);
}

async function stop(): Promise<void> {
  churn(0);
  for (const t of timers) clearTimeout(t);
  await Promise.all(gateways.map((g) => g.link.stop()));
  await bus?.close();
}

process.on('message', (m: FleetCommand) => {
  const reply = async (): Promise<FleetReply> => {
    switch (m.type) {
      case 'start':
        return { type: 'started', sessions: await start(m.spec) };
      case 'churn':
        churn(m.perSecond);
        return { type: 'churning' };
      case 'change-each': {
        const changes = gateways.map((g) => ({ gatewayId: g.adapter.config.id, ...swap(g) }));
        for (const c of changes) keep.add(c.newRef);
        await bus!.flush(30_000);
        return { type: 'changed', changes };
      }
      case 'stats':
        return {
          type: 'stats',
          rssBytes: process.memoryUsage.rss(),
          sessions: gateways.reduce((a, g) => a + g.adapter.sessions.size, 0),
          churned,
          disconnectsServed: gateways.reduce((a, g) => a + g.adapter.commands.length, 0),
        };
      case 'timeline':
        timeline.on = m.file === undefined;
        if (m.file !== undefined) {
          const { stall, snapshot, disconnect } = timeline;
          writeFileSync(m.file, JSON.stringify({ stall, snapshot, disconnect }));
        }
        return { type: 'timeline' };
      case 'stop':
        await stop();
        return { type: 'stopped' };
    }
  };
  reply().then(send, (e: unknown) =>
    send({ type: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
process.on('disconnect', () => process.exit(0));
