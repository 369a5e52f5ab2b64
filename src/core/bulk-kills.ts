import type { DisconnectIntent } from '../domain/disconnect-intent.js';

/**
 * Kills of a bulk disconnect that this process has sent and whose reply it awaits: the intent it
 * wrote for each, by gateway and session ref (a ref names one session of its gateway: the store's
 * unique key). Sync takes an intent from here when the daemon's report of that session's end comes
 * first (its `>CLIENT:DISCONNECT` echo nearly always does), instead of reading the session by ref and
 * its pending intent: the intent is the session's pending one (at most one is, and this process
 * wrote it) unless it was settled since, which sync's conditional settlement sees, and then sync
 * reads the record as for any report.
 *
 * Only the bulk's kills go in (the single path parks its echoes instead: KillsInFlight). An entry is
 * put before its kill is sent and dropped when its reply comes or sync takes it; a process that dies
 * loses nothing durable (every replica, this one restarted included, finds the intent in the store).
 */
export class BulkKills {
  private readonly byGateway = new Map<string, Map<string, DisconnectIntent>>();

  /** These kills of one gateway are about to be sent. */
  sending(gatewayId: string, kills: readonly { ref: string; intent: DisconnectIntent }[]): void {
    let refs = this.byGateway.get(gatewayId);
    if (!refs) this.byGateway.set(gatewayId, (refs = new Map()));
    for (const k of kills) refs.set(k.ref, k.intent);
  }

  /** Their replies came (or the request failed): sync reads the record for their reports from now on. */
  answered(gatewayId: string, refs: readonly string[]): void {
    const known = this.byGateway.get(gatewayId);
    if (!known) return;
    for (const ref of refs) known.delete(ref);
    if (known.size === 0) this.byGateway.delete(gatewayId);
  }

  /** Sync: the intent of the session's kill in flight here, if any, no longer kept. */
  take(gatewayId: string, ref: string): DisconnectIntent | undefined {
    const known = this.byGateway.get(gatewayId);
    const intent = known?.get(ref);
    if (!intent) return undefined;
    known!.delete(ref);
    if (known!.size === 0) this.byGateway.delete(gatewayId);
    return intent;
  }
}
