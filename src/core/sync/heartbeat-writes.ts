import type { GatewayReport } from '../reports.js';

type Heartbeat = Extract<GatewayReport, { type: 'heartbeat' }>;

/** Gateways remembered at most; past it the memory starts again (each gateway's next beat is written). */
const MAX_GATEWAYS = 100_000;

/**
 * Which heartbeats this replica writes. A beat is written when it changes what this replica last
 * wrote of its gateway (descriptor, capabilities, link state, daemon responding) or when that write
 * is `refreshMs` old (`lastSeenLagMs`); the others change nothing but the last-seen time and are
 * skipped. Every replica receives every beat, so on a fleet this is most of the statements a
 * replica runs: at the default bounds (beats every 5 s, liveness 15 s) one beat in two is written.
 *
 * What it knows is this replica's own writes only. Any other report of the gateway (a snapshot,
 * link down, a delta) may write its row, so it makes the memory forget that gateway: the next beat
 * is written whatever it says. Another replica's writes need no such care: every replica applies
 * the same reports in the same order per gateway, and each writes a change the first time it sees it.
 */
export class HeartbeatWrites {
  private readonly written = new Map<string, { key: string; at: number }>();

  constructor(private readonly refreshMs: number) {}

  /** Whether `beat`, heard at `now`, must be written; if so, call `wrote` after its commit. */
  due(beat: Heartbeat, now: number): boolean {
    const last = this.written.get(beat.gatewayId);
    return last === undefined || now - last.at >= this.refreshMs || last.key !== keyOf(beat);
  }

  /** `beat` was written at `now`. */
  wrote(beat: Heartbeat, now: number): void {
    if (this.written.size >= MAX_GATEWAYS && !this.written.has(beat.gatewayId)) this.written.clear();
    this.written.set(beat.gatewayId, { key: keyOf(beat), at: now });
  }

  /** Something other than a heartbeat was applied for the gateway: its next beat is written. */
  forget(gatewayId: string): void {
    this.written.delete(gatewayId);
  }

  /** As `forget`, for every gateway. */
  forgetAll(): void {
    this.written.clear();
  }
}

/** What a written beat stores besides its time. */
function keyOf(beat: Heartbeat): string {
  return `${beat.linkUp}:${beat.daemonResponding}:${JSON.stringify(beat.gateway)}`;
}
