import type { Actor } from '../domain/actor.js';
import type { Block } from '../domain/block.js';
import type { AuditOutcome } from '../domain/audit.js';
import { DomainError, MESSAGES, type ErrorCode } from '../domain/errors.js';
import { hasScope } from '../domain/scopes.js';
import type { Session } from '../domain/session.js';
import { BusTimeoutError, subjects, type Bus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import type { DisconnectOptions, DisconnectResult } from './api-types.js';
import { auditEvent } from './audit.js';
import { disconnectReplySchema, readWire, versioned, type DisconnectReply, type DisconnectRequest } from './reports.js';
import { appendSessionEvents } from './event-outbox.js';
import { sessionEvent } from './session-events.js';
import type { Logger } from './logger.js';
import { TransactionBatcher } from './transaction-batcher.js';

export interface DisconnectDeps {
  store: Store;
  bus: Bus;
  logger: Logger;
  /** How long the gateway has to confirm (default 5 000 ms). */
  deadlineMs: number;
  now?: () => number;
}

/** Longest `reason` kept in the audit trail and on the session, in characters. */
export const MAX_REASON_CHARS = 1000;
/** Longest `message` for the user, in characters (OpenVPN carries at most 240 bytes of it). */
export const MAX_MESSAGE_CHARS = 240;

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

/**
 * Ends exactly one session: scope check, lookup, a request to the session's gateway with a deadline,
 * then ONE transaction that ends the session and appends the audit event and the session event (shared
 * with concurrent disconnects: see TransactionBatcher); the relay publishes the event from the outbox. Every attempt is audited, whatever its outcome.
 */
export class DisconnectUseCase {
  /** Disconnects in flight in this process, by session id: a second caller waits, then re-checks. */
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly now: () => number;
  /** Concurrent disconnects commit together (group commit); each still commits all or nothing. */
  private readonly writes: TransactionBatcher;

  constructor(private readonly deps: DisconnectDeps) {
    this.now = deps.now ?? Date.now;
    this.writes = new TransactionBatcher(deps.store);
  }

  async run(actor: Actor, sessionId: string, options: DisconnectOptions): Promise<DisconnectResult> {
    const started = performance.now();
    const mode = options.mode ?? 'HALT';
    const reason = clip(options.reason);
    const message = clip(options.message);
    const blockSeconds = options.blockSeconds ?? null;
    const metadata = { mode, message, blockSeconds };
    const fail = async (outcome: AuditOutcome, code: ErrorCode, text: string, session?: Session | null): Promise<never> => {
      const event = auditEvent(actor, 'session.disconnect', outcome, {
        at: this.now(), targetSessionId: sessionId.slice(0, 64), targetUserName: session?.userName ?? null,
        targetGatewayId: session?.gatewayId ?? null, reason, errorCode: code, durationMs: elapsed(started), metadata,
      });
      await this.writes.run((tx) => tx.audit.append(event));
      throw new DomainError(code, text);
    };

    if (!hasScope(actor.scopes, 'sessions:disconnect')) return fail('FORBIDDEN', 'FORBIDDEN', MESSAGES.disconnectForbidden);
    checkDisconnectText(options.reason, options.message);
    if (blockSeconds !== null && (!Number.isInteger(blockSeconds) || blockSeconds < 1 || blockSeconds > 366 * 86400)) {
      throw new DomainError('BAD_USER_INPUT', 'blockSeconds must be an integer from 1 to 31622400');
    }

    for (let pending = this.inflight.get(sessionId); pending; pending = this.inflight.get(sessionId)) {
      await pending.catch(() => {});
    }
    // No await between the check above and the registration below: concurrent callers queue here.
    const attempt = (async () => {
      const session = await this.deps.store.sessions.findOnline(sessionId);
      if (!session) return fail('NOT_FOUND', 'SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
      return this.attempt(actor, session, { mode, reason, message, blockSeconds, started, metadata }, fail);
    })();
    this.inflight.set(sessionId, attempt);
    try {
      return await attempt;
    } finally {
      this.inflight.delete(sessionId);
    }
  }

  private async attempt(
    actor: Actor,
    session: Session,
    o: { mode: 'HALT' | 'RESTART'; reason: string | null; message: string | null; blockSeconds: number | null; started: number; metadata: Record<string, unknown> },
    fail: (outcome: AuditOutcome, code: ErrorCode, text: string, session?: Session | null) => Promise<never>,
  ): Promise<DisconnectResult> {
    const { bus, deadlineMs, logger } = this.deps;
    if (o.blockSeconds !== null && !(await this.deps.store.gateways.findById(session.gatewayId))?.canBlock) {
      // Before anything is asked of the gateway: a block it cannot enforce must not end the session.
      return fail('REFUSED', 'BLOCK_UNSUPPORTED', MESSAGES.blockUnsupported, session);
    }
    const request: DisconnectRequest = {
      ref: session.ref, userName: session.userName, mode: o.mode, message: o.message, blockSeconds: o.blockSeconds, deadlineMs,
    };
    let reply: DisconnectReply;
    try {
      const raw = await bus.request(subjects.gatewayDisconnect(session.gatewayId), versioned(request), { timeoutMs: deadlineMs });
      const read = readWire(disconnectReplySchema, raw);
      // An answer this build cannot read came from an agent that did receive the request.
      reply = read.ok ? read.value : { outcome: 'UNCONFIRMED', detail: `unreadable reply (${read.problem}: ${read.detail})` };
    } catch (e) {
      // Nobody serves the subject: nothing was sent. A timeout: the agent may have acted.
      reply = e instanceof BusTimeoutError && e.noResponders
        ? { outcome: 'NOT_SENT', detail: e.message }
        : { outcome: 'UNCONFIRMED', detail: e instanceof Error ? e.message : String(e) };
    }
    if (reply.outcome === 'NOT_SENT' || reply.outcome === 'UNCONFIRMED') {
      logger.warn({ sessionId: session.id, gatewayId: session.gatewayId, detail: reply.detail }, 'gateway did not confirm disconnect');
      return fail('GATEWAY_UNAVAILABLE', 'GATEWAY_UNAVAILABLE', MESSAGES.gatewayUnavailable, session);
    }
    const at = this.now();
    const target = { targetSessionId: session.id, targetUserName: session.userName, targetGatewayId: session.gatewayId };
    if (reply.outcome === 'NOT_FOUND') {
      // The daemon no longer knows it: it is gone. Record that, and answer as the seed says.
      await this.writes.run(async (tx) => {
        const row = await tx.sessions.markEnded(session.id, { endedAt: at, cause: 'CLIENT_DISCONNECT' });
        await tx.audit.append(auditEvent(actor, 'session.disconnect', 'NOT_FOUND', {
          at, ...target, reason: o.reason, errorCode: 'SESSION_NOT_FOUND', durationMs: elapsed(o.started), metadata: o.metadata,
        }));
        const event = row ? sessionEvent('session.disconnected', row) : null;
        if (event) await appendSessionEvents(tx, [event], at);
      });
      throw new DomainError('SESSION_NOT_FOUND', MESSAGES.sessionNotFound);
    }
    const audit = auditEvent(actor, 'session.disconnect', 'SUCCESS', {
      at, ...target, reason: o.reason, durationMs: elapsed(o.started), metadata: o.metadata,
    });
    const event = await this.writes.run(async (tx) => {
      const ended = await tx.sessions.markEnded(
        session.id,
        { endedAt: at, cause: 'ADMIN_DISCONNECT', endedByTokenId: actor.tokenId, endedByName: actor.name, endReason: o.reason },
        { claimEcho: true },
      );
      await tx.audit.append(audit);
      // The agent blocked the user before its kill; the store keeps the block (the agents' source of truth).
      if (o.blockSeconds !== null) await tx.blocks.put(blockOf(actor, session, o.blockSeconds, o.reason, at));
      // Not ended by this call (another replica's disconnect of the same session won): the row as it is.
      const final = ended ?? (await tx.sessions.findById(session.id)) ?? session;
      const e = sessionEvent('session.disconnected', final, { actor: { tokenId: actor.tokenId, name: actor.name }, reason: o.reason, message: o.message });
      // The event and webhook outboxes: written with the change, so they exist exactly when the change does.
      await appendSessionEvents(tx, [e], at);
      return e;
    });
    return { session: event.session, outcome: 'DISCONNECTED', auditEventId: audit.id };
  }
}

function clip(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const t = text.trim();
  // Only a refused (FORBIDDEN) attempt can get here with a longer text; its audit row stays bounded.
  return t === '' ? null : t.slice(0, MAX_REASON_CHARS);
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** The block a confirmed disconnect with `blockSeconds` leaves, keyed by the session's (verified) user. */
function blockOf(actor: Actor, session: Session, seconds: number, reason: string | null, at: number): Block {
  return {
    gatewayId: session.gatewayId, userName: session.userName, until: at + seconds * 1000, blockedAt: at,
    blockedByTokenId: actor.tokenId, blockedByName: actor.name, reason, sessionId: session.id,
  };
}
