import type { Actor } from '../domain/actor.js';
import type { AuditEvent, AuditOutcome } from '../domain/audit.js';
import { newIntentId, type DisconnectIntent } from '../domain/disconnect-intent.js';
import { DomainError, MESSAGES, type ErrorCode, errorText } from '../domain/errors.js';
import { hasScope } from '../domain/scopes.js';
import type { DisconnectMode, Session } from '../domain/session.js';
import { BusTimeoutError, subjects, type Bus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import type { DisconnectOptions, DisconnectResult } from './api-types.js';
import { auditEvent } from './audit.js';
import {
  settleEnded,
  settleEndedMany,
  settleUnsuccessful,
  type ConfirmedEnd,
  type EndedSettlement,
} from './intent-settlement.js';
import {
  disconnectBatchReplySchema,
  disconnectReplySchema,
  readWire,
  versioned,
  WIRE_VERSION,
  type DisconnectBatchRequest,
  type DisconnectReply,
  type DisconnectRequest,
  type Versioned,
} from './reports.js';
import { appendSessionEvents } from './event-outbox.js';
import { sessionEvent } from './session-events.js';
import { loggerFor, type Logger } from '../domain/logger.js';
import { TransactionBatcher } from './transaction-batcher.js';
import type { SettledIntents } from './settled-intents.js';
import type { KillsInFlight } from './kills-in-flight.js';
import { finalStatsOf } from './sync/deltas.js';
import { conflictMessage, type DeploymentConflict } from './deployment-guard.js';

export interface DisconnectDeps {
  store: Store;
  bus: Bus;
  logger: Logger;
  /** How long the gateway has to confirm (default 5 000 ms). */
  deadlineMs: number;
  now?: () => number;
  /** Intents that sync settled in this process from the daemon's report, for the reply to take. */
  settled?: SettledIntents;
  /** Where sync parks the daemon's report of a session whose kill awaits its reply here (see `ask`). */
  kills?: KillsInFlight;
  /** Another deployment heard on this bus prefix (see deployment-guard.ts): while there is one, no disconnect is sent. */
  conflict?: () => DeploymentConflict | null;
  /** This deployment's id, carried by every kill request (an agent told its deployment refuses others'). */
  deploymentId?: string;
}

/** Longest `reason` kept in the audit trail and on the session, in characters. */
export const MAX_REASON_CHARS = 1000;
/** Longest `message` for the user, in characters (OpenVPN carries at most 240 bytes of it). */
export const MAX_MESSAGE_CHARS = 240;
/** How often a caller that found another disconnect of the session under way looks at it again. */
const PENDING_POLL_MS = 50;
/** How long a gateway whose agent refused a batch of kills gets its kills one request each. */
const SINGLE_KILLS_FOR_MS = 60_000;
/** A pending intent never answered after this many deadlines was abandoned (its replica died). */
const ABANDONED_AFTER_DEADLINES = 3;

/**
 * Refuses a `reason` or `message` that is too long, with BAD_USER_INPUT: cutting them silently would
 * put words in the audit trail that the caller did not write.
 */
export function checkDisconnectText(reason: string | null | undefined, message: string | null | undefined): void {
  if (reason != null && reason.length > MAX_REASON_CHARS) {
    throw new DomainError('BAD_USER_INPUT', `reason must be at most ${MAX_REASON_CHARS} characters`);
  }
  if (message != null && message.length > MAX_MESSAGE_CHARS) {
    throw new DomainError('BAD_USER_INPUT', `message must be at most ${MAX_MESSAGE_CHARS} characters`);
  }
}

/** Refuses a `blockSeconds` that is not a whole number of seconds from 1 to 366 days, with BAD_USER_INPUT. */
export function checkBlockSeconds(blockSeconds: number | null | undefined): void {
  if (blockSeconds != null && (!Number.isInteger(blockSeconds) || blockSeconds < 1 || blockSeconds > 366 * 86400)) {
    throw new DomainError('BAD_USER_INPUT', 'blockSeconds must be an integer from 1 to 31622400');
  }
}

/** What one call asked for, cleaned (a bulk request makes one per session). */
export interface DisconnectCall {
  actor: Actor;
  sessionId: string;
  mode: DisconnectMode;
  reason: string | null;
  message: string | null;
  blockSeconds: number | null;
  started: number;
}

/**
 * Ends exactly one session, intent first (see docs/guarantees.md):
 * 1. scope check and lookup (refusals are audited; no gateway is asked);
 * 2. the intent is written durably (a `disconnect_intents` row and a PENDING audit row, one
 *    all-or-nothing write); if that fails the caller gets the error and no gateway is asked;
 * 3. the session's gateway is asked, with a deadline;
 * 4. the answer settles the intent in one transaction (DONE: session ended as ADMIN_DISCONNECT with
 *    the actor, audit row, event and webhook rows; NOT_FOUND; NOT_SENT), or, when the command may
 *    have reached the daemon without a confirmation (UNCONFIRMED), leaves it PENDING for sync to
 *    settle from the daemon's later report, or the horizon to settle as FAILED.
 * Refused attempts (FORBIDDEN, unknown session) append one audit row each; an attempt that reached
 * the intent step has its PENDING row and, once settled, its settling row. A disconnect that finds
 * another one of the session pending waits for it, or, when that one was answered "not confirmed" or
 * abandoned, sends its kill again as that same intent (see `resend`).
 */
export class DisconnectUseCase {
  /** Disconnects in flight in this process, by session id: a second caller waits, then re-checks. */
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly now: () => number;
  /** Concurrent disconnects commit together (group commit); each still commits all or nothing. */
  private readonly writes: TransactionBatcher;
  /**
   * Gateways whose agent refused a batch of kills unread (it predates them), with when: their kills go
   * one by one for SINGLE_KILLS_FOR_MS, then a batch is tried again (the agent may have been upgraded).
   */
  private readonly singleKills = new Map<string, number>();
  /** Confirmations waiting for their unit of the next group commit (see `confirm`). */
  private confirming: ConfirmingBatch | null = null;

  constructor(private readonly deps: DisconnectDeps) {
    this.now = deps.now ?? Date.now;
    this.writes = new TransactionBatcher(deps.store);
  }

  /** Another deployment heard on this bus prefix, while disconnects are refused for it; else null. */
  conflict(): DeploymentConflict | null {
    return this.deps.conflict?.() ?? null;
  }

  /**
   * NOT_SENT when another deployment was heard on this prefix after the call was let in (a bulk's
   * later batches, a kill sent again): checked again just before each request leaves, as no agent of
   * this prefix is known to be ours then. The intent settles as not sent; nothing was asked.
   */
  private unsentForConflict(): DisconnectReply | null {
    const conflict = this.conflict();
    return conflict ? { outcome: 'NOT_SENT', detail: conflictMessage(conflict) } : null;
  }

  /** The call as this use case records it (texts trimmed, defaults filled in); nothing is checked here. */
  call(actor: Actor, sessionId: string, options: DisconnectOptions): DisconnectCall {
    return {
      actor,
      sessionId,
      mode: options.mode ?? 'HALT',
      reason: clip(options.reason),
      message: clip(options.message),
      blockSeconds: options.blockSeconds ?? null,
      started: performance.now(),
    };
  }

  async run(actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult> {
    const req = this.call(actor, sessionId, options);
    if (!hasScope(actor.scopes, 'sessions:disconnect'))
      return this.refuse(req, 'FORBIDDEN', 'FORBIDDEN', MESSAGES.disconnectForbidden);
    checkDisconnectText(options.reason, options.message);
    checkBlockSeconds(req.blockSeconds);
    const conflict = this.conflict();
    if (conflict) {
      return this.refuse(req, 'REFUSED', 'DEPLOYMENT_CONFLICT', conflictMessage(conflict), undefined, {
        otherDeploymentId: conflict.otherDeploymentId,
      });
    }

    for (let pending = this.inflight.get(sessionId); pending; pending = this.inflight.get(sessionId)) {
      await pending.catch(() => {});
    }
    // No await between the check above and the registration below: concurrent callers queue here.
    const attempt = this.attempt(req);
    this.inflight.set(sessionId, attempt);
    try {
      return await attempt;
    } finally {
      this.inflight.delete(sessionId);
    }
  }

  private async attempt(req: DisconnectCall): Promise<DisconnectResult> {
    const deadline = performance.now() + this.deps.deadlineMs;
    for (;;) {
      const session = await this.deps.store.sessions.findOnline(req.sessionId);
      if (!session) return this.refuse(req, 'NOT_FOUND', 'SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
      if (req.blockSeconds !== null && !(await this.deps.store.gateways.findById(session.gatewayId))?.canBlock) {
        // Before anything is asked of the gateway: a block it cannot enforce must not end the session.
        return this.refuse(req, 'REFUSED', 'BLOCK_UNSUPPORTED', MESSAGES.blockUnsupported, session);
      }
      const { intent, pendingRow } = this.newIntent(req, session);
      // Durable before the gateway hears of it. A failure here throws: nothing was asked.
      const recorded = await this.writes.runAtomic((tx) => tx.intents.recordIfNoPending(intent, pendingRow));
      if (recorded) return this.ask(req, session, intent);
      // Another disconnect of this session is unsettled. Answered "not confirmed" already, or
      // abandoned by its replica: send its kill again, as that same intent, so that whichever kill
      // the daemon runs, the end is recorded once, as that intent's. Still in flight: wait for it.
      const other = await this.deps.store.intents.findPending(req.sessionId);
      if (!other) continue;
      if (
        other.unconfirmedAt !== null ||
        other.createdAt <= this.now() - ABANDONED_AFTER_DEADLINES * this.deps.deadlineMs
      ) {
        return this.resend(req, session, other);
      }
      const settled = await this.waitForOther(req.sessionId, deadline);
      if (settled) continue; // it settled: the session ended (then NOT_FOUND above) or is still online (try again)
      return this.refuse(req, 'GATEWAY_UNAVAILABLE', 'GATEWAY_UNAVAILABLE', MESSAGES.disconnectPending, session, {
        disconnect: 'UNCONFIRMED',
      });
    }
  }

  /** A new PENDING intent for the session and its PENDING audit row (to be written in one transaction, before the kill). */
  newIntent(req: DisconnectCall, session: Session): { intent: DisconnectIntent; pendingRow: AuditEvent } {
    const intent = this.intentFor(req, session);
    const pendingRow = auditEvent(req.actor, 'session.disconnect', 'PENDING', {
      at: intent.createdAt,
      targetSessionId: session.id,
      targetUserName: session.userName,
      targetGatewayId: session.gatewayId,
      reason: req.reason,
      metadata: { intentId: intent.id, mode: req.mode, message: req.message, blockSeconds: req.blockSeconds },
    });
    intent.auditEventId = pendingRow.id;
    return { intent, pendingRow };
  }

  /** The intent's kill, sent to the session's gateway: the agent's reply in the agreed vocabulary. */
  async send(session: Session, intent: DisconnectIntent): Promise<DisconnectReply> {
    const { bus, deadlineMs } = this.deps;
    const unsent = this.unsentForConflict();
    if (unsent) return unsent;
    // Versioned as it is made: the kill (a fresh object) completed in place with its deadline and
    // version, the keys in the order `versioned({ ...killOf(session, intent), deadlineMs })` gives,
    // without two copies on every disconnect.
    const request = killOf(session, intent) as Versioned<DisconnectRequest>;
    request.deadlineMs = deadlineMs;
    if (this.deps.deploymentId !== undefined) request.deploymentId = this.deps.deploymentId;
    request.version = WIRE_VERSION;
    try {
      const read = readWire(
        disconnectReplySchema,
        await bus.request(subjects.gatewayDisconnect(session.gatewayId), request, { timeoutMs: deadlineMs }),
      );
      // An answer this build cannot read came from an agent that did receive the request: it may have acted.
      return read.ok
        ? read.value
        : { outcome: 'UNCONFIRMED', detail: `unreadable reply (${read.problem}: ${read.detail})` };
    } catch (e) {
      return unanswered(e);
    }
  }

  /**
   * The kills of several intents of ONE gateway (at most MAX_DISCONNECT_BATCH), sent in one request:
   * the agent's reply for each, in order, as `send` would have answered it. Each intent must be
   * recorded (committed) before this is called, as for `send`. An agent that does not speak the batch
   * refuses it unread (NOT_SENT: no daemon was asked), and the kills go one request each; any other
   * failure of the request answers every kill as `send` would answer its own failure.
   */
  async sendMany(items: { session: Session; intent: DisconnectIntent }[]): Promise<DisconnectReply[]> {
    const { bus, deadlineMs } = this.deps;
    const unsent = this.unsentForConflict();
    if (unsent) return items.map(() => unsent);
    const gatewayId = items[0]!.session.gatewayId;
    const oneByOne = () => Promise.all(items.map((i) => this.send(i.session, i.intent)));
    if (items.length === 1 || (this.singleKills.get(gatewayId) ?? -Infinity) > performance.now() - SINGLE_KILLS_FOR_MS)
      return oneByOne();
    const request: DisconnectBatchRequest = { kills: items.map((i) => killOf(i.session, i.intent)), deadlineMs };
    if (this.deps.deploymentId !== undefined) request.deploymentId = this.deps.deploymentId;
    let answer: unknown;
    try {
      answer = await bus.request(subjects.gatewayDisconnect(gatewayId), versioned(request), { timeoutMs: deadlineMs });
    } catch (e) {
      const reply = unanswered(e);
      return items.map(() => reply);
    }
    const read = readWire(disconnectBatchReplySchema, answer);
    if (read.ok && read.value.replies.length === items.length) return read.value.replies;
    // An agent that predates the batch read it as one kill it could not read, and asked no daemon.
    const single = readWire(disconnectReplySchema, answer);
    if (single.ok && single.value.outcome === 'NOT_SENT') {
      this.singleKills.set(gatewayId, performance.now());
      return oneByOne();
    }
    // Any other answer came from an agent that received the kills: each may have been run.
    const detail = read.ok
      ? `unreadable reply (${read.value.replies.length} replies for ${items.length} kills)`
      : `unreadable reply (${read.problem}: ${read.detail})`;
    return items.map(() => ({ outcome: 'UNCONFIRMED', detail }));
  }

  /**
   * Asks the gateway for a new intent and settles the intent with its answer. While the kill is in
   * flight, sync parks the daemon's report of the session's end (KillsInFlight) instead of settling
   * the intent from it: on the daemon's confirmation the intent settles here, at the report's time
   * with its final counters, in this use case's single-row statements (the parked report is then
   * dropped: it would change nothing); on any other answer the parked report is applied through sync
   * first, and the answer handled as when sync had applied it on arrival.
   */
  private async ask(req: DisconnectCall, session: Session, intent: DisconnectIntent): Promise<DisconnectResult> {
    const kills = this.deps.kills;
    if (!kills) return this.answer(req, session, intent, await this.send(session, intent));
    kills.expect(session.gatewayId, session.ref);
    let reply: DisconnectReply;
    try {
      reply = await this.send(session, intent);
    } catch (e) {
      const echo = kills.release(session.gatewayId, session.ref);
      if (echo) await kills.apply(echo);
      throw e;
    }
    const echo = kills.release(session.gatewayId, session.ref);
    if (echo && reply.outcome === 'ENDED') {
      try {
        return await this.confirmed(req, intent, echo);
      } catch (e) {
        // The settlement failed (the store): the report's word is applied as sync would have.
        await kills.apply(echo);
        if (this.deps.settled?.has(intent.id)) return this.settledElsewhere(intent);
        throw e;
      }
    }
    if (echo) await kills.apply(echo);
    return this.answer(req, session, intent, reply);
  }

  /**
   * Settles a new intent with its gateway's reply (or leaves it PENDING when unconfirmed): the
   * disconnect's answer, or its error.
   */
  async answer(
    req: DisconnectCall,
    session: Session,
    intent: DisconnectIntent,
    reply: DisconnectReply,
  ): Promise<DisconnectResult> {
    const logger = loggerFor(this.deps.logger, req.actor);
    const now = this.now();
    const durationMs = elapsed(req.started);
    switch (reply.outcome) {
      case 'ENDED':
        return this.confirmed(req, intent);
      case 'NOT_FOUND': {
        // The daemon no longer knows it: it left before the kill. Record that, and answer as the seed says.
        const settled = await this.writes.run(async (tx) => {
          if ((await settleUnsuccessful(tx, intent, 'NOT_FOUND', { now, durationMs })) === null) return false;
          const row = await tx.sessions.markEnded(session.id, { endedAt: now, cause: 'CLIENT_DISCONNECT' });
          if (row) await appendSessionEvents(tx, [sessionEvent('session.disconnected', row)], now);
          return true;
        });
        if (!settled) return this.settledElsewhere(intent);
        throw new DomainError('SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
      }
      case 'NOT_SENT': {
        logger.warn(
          { sessionId: session.id, gatewayId: session.gatewayId, detail: reply.detail },
          'disconnect not sent to the gateway',
        );
        const audited = await this.writes.run((tx) =>
          settleUnsuccessful(tx, intent, 'NOT_SENT', { now, detail: reply.detail, durationMs }),
        );
        if (audited === null) return this.settledElsewhere(intent);
        throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectNotSent, {
          extensions: { disconnect: 'NOT_SENT' },
        });
      }
      case 'UNCONFIRMED': {
        logger.warn(
          { sessionId: session.id, gatewayId: session.gatewayId, intentId: intent.id, detail: reply.detail },
          'disconnect not confirmed; it stays pending',
        );
        if (!(await this.deps.store.intents.markUnconfirmed(intent.id, now))) return this.settledElsewhere(intent);
        throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectUnconfirmed, {
          extensions: { disconnect: 'UNCONFIRMED' },
        });
      }
    }
  }

  /**
   * The intent was settled by someone else before this call could (sync applied the daemon's report
   * first, on this or another replica): answer what the record says.
   */
  async settledElsewhere(intent: DisconnectIntent): Promise<DisconnectResult> {
    // Settled by this process's sync from the daemon's report: its answer, without reading it back.
    const early = this.deps.settled?.take(intent.id);
    if (early) return { session: early.session, outcome: 'DISCONNECTED', auditEventId: early.auditEventId };
    const { store } = this.deps;
    const now = await store.intents.findById(intent.id);
    const session = await store.sessions.findById(intent.sessionId);
    if (now?.status === 'DONE' && session && now.settledAuditEventId) {
      return { session, outcome: 'DISCONNECTED', auditEventId: now.settledAuditEventId };
    }
    if (now?.status === 'NOT_SENT') {
      throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectNotSent, {
        extensions: { disconnect: 'NOT_SENT' },
      });
    }
    if (now?.status === 'PENDING') {
      throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectUnconfirmed, {
        extensions: { disconnect: 'UNCONFIRMED' },
      });
    }
    throw new DomainError('SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
  }

  /**
   * Sends the kill of a pending intent again for a new caller (its own attempt is one more PENDING
   * row naming that intent). Only the daemon's confirmation settles it here (as the intent's: one end,
   * one record); a NOT_FOUND leaves it to the daemon's report, since the earlier kill may be the one
   * that ended the session; anything else leaves it pending.
   */
  private async resend(req: DisconnectCall, session: Session, intent: DisconnectIntent): Promise<DisconnectResult> {
    const row = auditEvent(req.actor, 'session.disconnect', 'PENDING', {
      at: this.now(),
      targetSessionId: session.id,
      targetUserName: session.userName,
      targetGatewayId: session.gatewayId,
      reason: req.reason,
      metadata: {
        intentId: intent.id,
        resend: true,
        mode: intent.mode,
        message: intent.message,
        blockSeconds: intent.blockSeconds,
      },
    });
    await this.writes.run((tx) => tx.audit.append(row));
    const reply = await this.send(session, intent);
    if (reply.outcome === 'NOT_FOUND') throw new DomainError('SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
    if (reply.outcome !== 'ENDED') {
      loggerFor(this.deps.logger, req.actor).warn(
        { sessionId: session.id, intentId: intent.id, detail: reply.detail },
        'disconnect sent again, still not confirmed',
      );
      throw new DomainError('GATEWAY_UNAVAILABLE', MESSAGES.disconnectPending, {
        extensions: { disconnect: 'UNCONFIRMED' },
      });
    }
    return this.confirmed(req, intent);
  }

  /**
   * The daemon confirmed: one transaction ends the session as the intent's, with its audit row, event
   * and webhook rows; at the time and with the final counters of the daemon's report when `echo`
   * (parked while the kill was in flight) carries them.
   */
  async confirmed(
    req: DisconnectCall,
    intent: DisconnectIntent,
    echo?: Parameters<typeof finalStatsOf>[0],
  ): Promise<DisconnectResult> {
    // The daemon's report of the end reached sync first, which settled the intent (committed).
    if (this.deps.settled?.has(intent.id)) return this.settledElsewhere(intent);
    const done = await this.confirm({
      intent,
      at: echo?.at ?? this.now(),
      durationMs: elapsed(req.started),
      ...(echo ? { finalStats: finalStatsOf(echo) } : {}),
    });
    if (!done) return this.settledElsewhere(intent);
    return { session: done.session, outcome: 'DISCONNECTED', auditEventId: done.auditEventId };
  }

  /**
   * Settles a confirmed intent together with the other confirmations that become ready before the
   * disconnects' next group commit: one unit of that commit settles them all in multi-row statements
   * (`settleEndedMany`), each with its own time, counters and duration, as `settleEnded` would one by
   * one. Null when the intent was settled already (sync, another replica).
   */
  private async confirm(c: ConfirmedEnd): Promise<EndedSettlement | null> {
    let batch = this.confirming;
    if (!batch) {
      const items: ConfirmedEnd[] = [];
      const open: ConfirmingBatch = { items, done: Promise.resolve(new Map()) };
      open.done = this.writes.run(async (tx) => {
        // The batch closes when its unit first runs; run again after a rollback, it settles the same set.
        if (this.confirming === open) this.confirming = null;
        // Settled by sync from the daemon's report meanwhile (committed): nothing to write.
        const pending = items.filter((x) => !this.deps.settled?.has(x.intent.id));
        if (pending.length === 0) return new Map<string, EndedSettlement>();
        const now = this.now();
        const done = await settleEndedMany(tx, pending, { now, confirmedBy: 'GATEWAY_REPLY' });
        // The event and webhook outboxes: written with the change, so they exist exactly when the change does.
        await appendSessionEvents(
          tx,
          [...done.values()].flatMap((d) => (d.event ? [d.event] : [])),
          now,
        );
        return done;
      });
      this.confirming = batch = open;
    }
    batch.items.push(c);
    let done: Map<string, EndedSettlement>;
    try {
      done = await batch.done;
    } catch (e) {
      if (batch.items.length === 1) throw e;
      // As the group commit does with its units: one confirmation's failure fails only that one.
      return this.writes.run(async (tx) => {
        if (this.deps.settled?.has(c.intent.id)) return null;
        const now = this.now();
        const settled = await settleEnded(tx, c.intent, { ...c, now, confirmedBy: 'GATEWAY_REPLY' });
        if (settled?.event) await appendSessionEvents(tx, [settled.event], now);
        return settled;
      });
    }
    return done.get(c.intent.id) ?? null;
  }

  /** Polls the session's unsettled intent until it settles (true) or the deadline passes (false). */
  private async waitForOther(sessionId: string, deadline: number): Promise<boolean> {
    for (;;) {
      if (!(await this.deps.store.intents.findPending(sessionId))) return true;
      if (performance.now() + PENDING_POLL_MS > deadline) return false;
      await new Promise((r) => setTimeout(r, PENDING_POLL_MS));
    }
  }

  /** An attempt refused before any gateway was asked: one audit row, then the error. */
  private async refuse(
    req: DisconnectCall,
    outcome: AuditOutcome,
    code: ErrorCode,
    text: string,
    session?: Session,
    extensions?: Record<string, string>,
  ): Promise<never> {
    const event = auditEvent(req.actor, 'session.disconnect', outcome, {
      at: this.now(),
      targetSessionId: req.sessionId.slice(0, 64),
      targetUserName: session?.userName ?? null,
      targetGatewayId: session?.gatewayId ?? null,
      reason: req.reason,
      errorCode: code,
      durationMs: elapsed(req.started),
      metadata: { mode: req.mode, message: req.message, blockSeconds: req.blockSeconds, ...extensions },
    });
    await this.writes.run((tx) => tx.audit.append(event));
    throw new DomainError(code, text, extensions ? { extensions } : undefined);
  }

  private intentFor(req: DisconnectCall, session: Session): DisconnectIntent {
    const { actor } = req;
    return {
      id: newIntentId(),
      sessionId: session.id,
      gatewayId: session.gatewayId,
      userName: session.userName,
      createdAt: this.now(),
      actorTokenId: actor.tokenId,
      actorName: actor.name,
      actorIp: actor.ip,
      actorUserAgent: actor.userAgent,
      actorRequestId: actor.requestId ?? null,
      reason: req.reason,
      message: req.message,
      mode: req.mode,
      blockSeconds: req.blockSeconds,
      status: 'PENDING',
      unconfirmedAt: null,
      settledAt: null,
      auditEventId: '',
      settledAuditEventId: null,
    };
  }
}

/** Confirmed intents settled by one unit of a group commit, and what that unit settled. */
interface ConfirmingBatch {
  items: ConfirmedEnd[];
  done: Promise<Map<string, EndedSettlement>>;
}

/** What the agent needs of one intent's kill (a new object each call): alone, with its deadline, or in a batch. */
function killOf(session: Session, intent: DisconnectIntent): Omit<DisconnectRequest, 'deadlineMs' | 'deploymentId'> {
  return {
    ref: session.ref,
    userName: session.userName,
    mode: intent.mode,
    message: intent.message,
    blockSeconds: intent.blockSeconds,
  };
}

/**
 * A kill request that got no answer. No responder (or a bus that sent nothing): certainly not sent.
 * Anything else, a timeout included, may have reached the agent, which may have acted.
 */
function unanswered(e: unknown): DisconnectReply {
  const detail = errorText(e);
  return e instanceof BusTimeoutError && e.noResponders
    ? { outcome: 'NOT_SENT', detail }
    : { outcome: 'UNCONFIRMED', detail };
}

function clip(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const t = text.trim();
  // Only a refused (FORBIDDEN) attempt can get here with a longer text; its audit row stays bounded.
  return t === '' ? null : t.slice(0, MAX_REASON_CHARS);
}

/** Milliseconds since `started` (a `performance.now()`), to the microsecond. */
export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
