/**
 * The batched path of a bulk disconnect: the same record per session as the single path
 * (disconnect.ts, docs/guarantees.md), written in a handful of statements per chunk of sessions
 * instead of about six per session.
 *
 * 1. Per chunk of `BULK_CHUNK` sessions, ONE transaction inserts their intents (one multi-row insert
 *    that skips a session whose disconnect another caller has pending) and the PENDING audit rows of
 *    those that got in. No kill of a chunk is sent before its transaction committed; if it fails,
 *    each session of the chunk fails with its error and no gateway hears of any of them. The next
 *    chunk is recorded while this one's kills run.
 * 2. The kills go to their gateway's agent `BULK_KILL_BATCH` to a bus request (a DisconnectBatchRequest,
 *    one reply per kill; an agent that predates it gets them one request each), up to
 *    `BULK_KILLS_IN_FLIGHT` at once. Each reply is then handled as its own kill's.
 * 3. Confirmed ends are settled in batches of `SETTLE_BATCH` (`settleEndedMany`), as one disconnect
 *    settles its reply: the daemon's report of the end (its echo, which usually comes first) is parked
 *    by sync while the kill is in flight and until its batch (KillsInFlight), and the end is recorded
 *    at the report's time with its final counters (`confirmedBy: GATEWAY_REPLY`). One conditional
 *    update moves the batch's intents from PENDING and names those it moved; only those get their
 *    session ended, their SUCCESS row and their event here. The rest were settled meanwhile (another
 *    replica, sync applying a parked report that a snapshot or a later report of the session
 *    released), which wrote their rows: their answer is that settlement, as for one disconnect.
 * Replies other than a confirmation (NOT_FOUND, NOT_SENT, UNCONFIRMED), sessions whose disconnect
 * another caller has pending, and sessions the batch cannot take (a block their gateway cannot
 * enforce, an id not online) go through the single path, one at a time as before.
 */
import type { Session } from '../domain/session.js';
import type { Store } from '../store/store.js';
import type { DisconnectIntent } from '../domain/disconnect-intent.js';
import type { AuditEvent } from '../domain/audit.js';
import type { DisconnectOptions } from './api-types.js';
import { elapsed, type DisconnectCall, type DisconnectUseCase } from './disconnect.js';
import { appendSessionEvents } from './event-outbox.js';
import { settleEndedMany } from './intent-settlement.js';
import type { SettledIntents } from './settled-intents.js';
import type { KillsInFlight } from './kills-in-flight.js';
import { finalStatsOf } from './sync/deltas.js';
import type { DisconnectReply } from './reports.js';

/** Sessions whose intents and PENDING rows one transaction records. */
export const BULK_CHUNK = 500;
/** Kills of one bulk request in flight at once (the agent pipelines them to its daemon). */
export const BULK_KILLS_IN_FLIGHT = 100;
/** Kills per bus request (one gateway's, a DisconnectBatchRequest): two requests in flight keep the agent's queue fed. */
export const BULK_KILL_BATCH = 50;
/** Sessions of one bulk request on the single path at once (those the batch does not take). */
export const BULK_SINGLE_CONCURRENCY = 16;
/** Confirmed ends per settling transaction (the last one of a bulk takes what is left). */
const SETTLE_BATCH = 500;

export interface BulkChunkDeps {
  store: Store;
  disconnect: DisconnectUseCase;
  now: () => number;
  /** Intents that this process's sync settled from a daemon's report (shared with the single path). */
  settled?: SettledIntents;
  /**
   * Shared with this process's sync: while a kill is in flight, and until its confirmation settles,
   * the daemon's report of that session's end is parked there (as for one disconnect) and the
   * settling batch takes it, instead of sync settling it in a transaction of its own.
   */
  kills?: KillsInFlight;
}

/** How one session's disconnect ended: null when its gateway confirmed, else the error the single path would have thrown. */
export type BulkOutcome = (sessionId: string, error: unknown) => void;

/** One session whose intent and PENDING row committed. */
interface Recorded {
  session: Session;
  call: DisconnectCall;
  intent: DisconnectIntent;
}

/** A confirmed end waiting for its settling transaction. */
interface Confirmed extends Recorded {
  done: () => void;
}

export class BulkChunks {
  private readonly queue: Confirmed[] = [];
  private draining = false;
  private readonly settling: Promise<void>[] = [];
  /** Every kill has been answered: what waits is settled now, whatever its size. */
  private finished = false;
  /** Ids for the single path, run after the batched ones. */
  private readonly alone: string[] = [];

  constructor(
    private readonly deps: BulkChunkDeps,
    private readonly call: Omit<DisconnectCall, 'sessionId' | 'started'>,
    private readonly options: DisconnectOptions,
    private readonly outcome: BulkOutcome,
  ) {}

  /**
   * Ends `sessions` (read online, full rows) in chunks, and the sessions named by `alone` (not found
   * online when read) through the single path; every id is answered through `outcome` once.
   */
  async run(sessions: Session[], alone: string[]): Promise<void> {
    this.alone.push(...alone);
    const batched = await this.takeable(sessions);
    const chunks: Session[][] = [];
    for (let i = 0; i < batched.length; i += BULK_CHUNK) chunks.push(batched.slice(i, i + BULK_CHUNK));
    const recorded = this.recorded(chunks);
    const worker = async () => {
      for (;;) {
        const batch: Recorded[] = [];
        while (batch.length < BULK_KILL_BATCH) {
          const r = await recorded.next();
          if (r.done) break;
          batch.push(r.value);
        }
        if (batch.length === 0) return;
        await Promise.all([...byGateway(batch).values()].map((kills) => this.kill(kills)));
      }
    };
    const workers = Math.min(BULK_KILLS_IN_FLIGHT / BULK_KILL_BATCH, Math.ceil(batched.length / BULK_KILL_BATCH));
    try {
      await Promise.all(Array.from({ length: workers }, worker));
    } finally {
      // Whatever waits is settled now (a failed request included: its confirmed neighbours stay answered).
      this.finished = true;
      if (!this.draining) void this.drain();
    }
    await Promise.all(this.settling);
    let next = 0;
    const single = async () => {
      while (next < this.alone.length) {
        const id = this.alone[next++]!;
        await this.deps.disconnect.run(this.call.actor, id, this.options).then(
          () => this.outcome(id, null),
          (e: unknown) => this.outcome(id, e),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(BULK_SINGLE_CONCURRENCY, this.alone.length) }, single));
  }

  /** With a block: sessions on gateways that cannot enforce it go to the single path, which refuses them (audited). */
  private async takeable(sessions: Session[]): Promise<Session[]> {
    if (this.call.blockSeconds === null) return sessions;
    const canBlock = new Map<string, boolean>();
    for (const id of new Set(sessions.map((s) => s.gatewayId))) {
      canBlock.set(id, (await this.deps.store.gateways.findById(id))?.canBlock === true);
    }
    const out: Session[] = [];
    for (const s of sessions) {
      if (canBlock.get(s.gatewayId)) out.push(s);
      else this.alone.push(s.id);
    }
    return out;
  }

  /** The recorded sessions, chunk after chunk; the next chunk is recorded while this one's kills run. */
  private async *recorded(chunks: Session[][]): AsyncGenerator<Recorded> {
    let next = chunks.length > 0 ? this.record(chunks[0]!) : null;
    for (let c = 0; c < chunks.length; c++) {
      const items = await next!;
      next = c + 1 < chunks.length ? this.record(chunks[c + 1]!) : null;
      yield* items;
    }
  }

  /** One transaction: the chunk's intents (those without a pending one) and their PENDING rows. */
  private async record(chunk: Session[]): Promise<Recorded[]> {
    const started = performance.now();
    const items: (Recorded & { pendingRow: AuditEvent })[] = chunk.map((session) => {
      const call = { ...this.call, sessionId: session.id, started };
      return { session, call, ...this.deps.disconnect.newIntent(call, session) };
    });
    let inserted: Set<string>;
    try {
      inserted = await this.deps.store.transaction(async (tx) => {
        const got = await tx.intents.insertManyIfNoPending(items.map((i) => i.intent));
        await tx.audit.appendMany(items.filter((i) => got.has(i.intent.id)).map((i) => i.pendingRow));
        return got;
      });
    } catch (e) {
      // Nothing of the chunk was recorded: no gateway is asked, and each of its sessions fails as one would.
      for (const i of items) this.outcome(i.session.id, e);
      return [];
    }
    const recorded: Recorded[] = [];
    for (const { session, call, intent } of items) {
      // Another disconnect of the session is pending: the single path waits for it or sends its kill again.
      if (inserted.has(intent.id)) recorded.push({ session, call, intent });
      else this.alone.push(session.id);
    }
    return recorded;
  }

  /**
   * Kills of one gateway, one request; each reply is then handled as its own (`answered`). From before
   * they are sent, sync parks the daemon's reports of their sessions' ends (KillsInFlight).
   */
  private async kill(kills: Recorded[]): Promise<void> {
    for (const k of kills) this.deps.kills?.expect(k.session.gatewayId, k.session.ref);
    let replies: DisconnectReply[];
    try {
      replies = await this.deps.disconnect.sendMany(kills);
    } catch (e) {
      // No answer at all: each parked report is applied as sync would have on arrival.
      for (const k of kills) await this.applyParked(k);
      throw e;
    }
    await Promise.all(kills.map((r, i) => this.answered(r, replies[i]!)));
  }

  /**
   * A confirmation waits for a settling batch (its parked report, if any, stays parked until then);
   * any other reply applies the parked report first, then is settled as one disconnect's.
   */
  private async answered(r: Recorded, reply: DisconnectReply): Promise<void> {
    if (reply.outcome !== 'ENDED') {
      await this.applyParked(r);
      await this.deps.disconnect.answer(r.call, r.session, r.intent, reply).then(
        () => this.outcome(r.session.id, null),
        (e: unknown) => this.outcome(r.session.id, e),
      );
      return;
    }
    // Sync applied the daemon's echo first and committed: that settlement is the answer.
    if (this.deps.settled?.take(r.intent.id)) {
      this.deps.kills?.release(r.session.gatewayId, r.session.ref);
      this.outcome(r.session.id, null);
      return;
    }
    this.settling.push(new Promise<void>((done) => this.queue.push({ ...r, done })));
    if (!this.draining && this.queue.length >= SETTLE_BATCH) void this.drain();
  }

  /** The kill's parked report (if any), no longer parked, applied through sync in its gateway's order. */
  private async applyParked(r: Recorded): Promise<void> {
    const echo = this.deps.kills?.release(r.session.gatewayId, r.session.ref);
    if (echo) await this.deps.kills!.apply(echo);
  }

  /**
   * Settles full batches while kills are still being answered, then what is left once all are: a
   * batch of `SETTLE_BATCH` writes each index page it touches once for more sessions than the
   * smaller runs the replies come in (the settlement is not on the kills' path: none waits for it).
   */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length >= SETTLE_BATCH || (this.finished && this.queue.length > 0))
        await this.settle(this.queue.splice(0, SETTLE_BATCH));
    } finally {
      this.draining = false;
    }
  }

  /** One settling transaction for a batch of confirmed ends; each is answered once it committed. */
  private async settle(batch: Confirmed[]): Promise<void> {
    const now = this.deps.now();
    // The daemon's reports of these ends, parked for this settlement: each end at its report's time with its final counters.
    const echoes = batch.map((c) => this.deps.kills?.release(c.session.gatewayId, c.session.ref));
    let settledHere: Map<string, unknown>;
    try {
      settledHere = await this.deps.store.transaction(async (tx) => {
        // Settled by sync while this waited for the connection (committed): nothing to write for those.
        const fresh = batch.flatMap((c, i) => {
          if (this.deps.settled?.has(c.intent.id)) return [];
          const echo = echoes[i];
          const durationMs = elapsed(c.call.started);
          return [
            echo
              ? { intent: c.intent, at: echo.at, finalStats: finalStatsOf(echo), durationMs }
              : { intent: c.intent, at: now, durationMs },
          ];
        });
        const settled = await settleEndedMany(tx, fresh, { now, confirmedBy: 'GATEWAY_REPLY' });
        const events = [...settled.values()].flatMap((d) => (d.event ? [d.event] : []));
        await appendSessionEvents(tx, events, now);
        return settled;
      });
    } catch {
      // Each alone, as one disconnect settles (its own transaction): one bad row fails only its own session.
      await Promise.all(batch.map((c, i) => this.answer(c, this.confirmedAlone(c, echoes[i]))));
      return;
    }
    await Promise.all(
      batch.map((c) =>
        settledHere.has(c.intent.id)
          ? this.answer(c, Promise.resolve())
          : // Settled by sync or another replica: what the record (or sync's note) says, as for one disconnect.
            this.answer(c, this.deps.disconnect.settledElsewhere(c.intent)),
      ),
    );
  }

  /** As one disconnect settles its confirmation (its own transaction); a failure applies its parked report as sync would have. */
  private async confirmedAlone(c: Confirmed, echo: Parameters<typeof finalStatsOf>[0] | undefined): Promise<unknown> {
    try {
      return await this.deps.disconnect.confirmed(c.call, c.intent, echo);
    } catch (e) {
      if (!echo) throw e;
      await this.deps.kills!.apply(echo);
      if (this.deps.settled?.has(c.intent.id)) return this.deps.disconnect.settledElsewhere(c.intent);
      throw e;
    }
  }

  private async answer(c: Confirmed, result: Promise<unknown>): Promise<void> {
    await result.then(
      () => this.outcome(c.session.id, null),
      (e: unknown) => this.outcome(c.session.id, e),
    );
    c.done();
  }
}

/** Recorded kills grouped by gateway (one request each), in the order they came. */
function byGateway(kills: Recorded[]): Map<string, Recorded[]> {
  const groups = new Map<string, Recorded[]>();
  for (const k of kills) {
    const group = groups.get(k.session.gatewayId);
    if (group) group.push(k);
    else groups.set(k.session.gatewayId, [k]);
  }
  return groups;
}
