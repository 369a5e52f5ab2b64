import type { EndedSettlement } from './intent-settlement.js';

/** Most settlements kept for a reply that has not come yet (the oldest are dropped first). */
const MAX_KEPT = 4096;

/**
 * Settlements of disconnect intents that committed in this process from the daemon's report (its
 * `>CLIENT:DISCONNECT` echo usually reaches sync before the kill's reply reaches the disconnect
 * waiting for it), kept until that disconnect takes them. Without this the disconnect ran its own
 * settlement (a conditional update that matched nothing, in a transaction) and then read the intent
 * and the session back: three statements per disconnect, for an answer this process already had.
 *
 * Only committed facts go in (the caller notes a settlement after its transaction committed), so
 * taking one answers exactly what reading the record would. A settlement nobody takes (the intent of
 * another replica, a disconnect that gave up) is dropped after `MAX_KEPT` newer ones; a disconnect
 * that finds nothing here settles or reads the record as before.
 */
export class SettledIntents {
  private readonly kept = new Map<string, EndedSettlement>();

  note(intentId: string, settlement: EndedSettlement): void {
    this.kept.set(intentId, settlement);
    if (this.kept.size > MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
  }

  has(intentId: string): boolean {
    return this.kept.has(intentId);
  }

  take(intentId: string): EndedSettlement | undefined {
    const s = this.kept.get(intentId);
    if (s) this.kept.delete(intentId);
    return s;
  }
}
