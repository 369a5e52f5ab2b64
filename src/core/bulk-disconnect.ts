import type { Actor } from '../domain/actor.js';
import { DomainError, MESSAGES, isDomainError } from '../domain/errors.js';
import { hasScope } from '../domain/scopes.js';
import type { SessionFilter, Store } from '../store/store.js';
import type { BulkDisconnectInput, BulkDisconnectOne, BulkDisconnectResult } from './api-types.js';
import { auditEvent } from './audit.js';
import type { Session } from '../domain/session.js';
import { BulkChunks, type BulkChunkDeps } from './bulk-chunks.js';
import { checkBlockSeconds, checkDisconnectText, MAX_REASON_CHARS } from './disconnect.js';
import { conflictMessage } from './deployment-guard.js';

/** Sessions read per page of the match. */
const PAGE = 500;
/** How many sessions one request may name (`sessionIds`): a page of the console at most. */
export const BULK_MAX_SESSION_IDS = 500;

/**
 * Ends every online session matching a filter, or the sessions named by `sessionIds`. Each one is
 * recorded as a single disconnect is (its intent and PENDING row before its kill, its own settlement,
 * audit row and session event), in batches (bulk-chunks.ts); one summary event records the request.
 */
export async function bulkDisconnect(
  deps: BulkChunkDeps,
  actor: Actor,
  input: BulkDisconnectInput,
): Promise<BulkDisconnectResult> {
  const filter = definedOnly(input.filter ?? {});
  const sessionIds = input.sessionIds === undefined ? null : [...new Set(input.sessionIds)];
  /** Refused requests are audited too, as a single disconnect's are; then the error is thrown. */
  const refuse = async (error: DomainError, outcome: 'FORBIDDEN' | 'REFUSED'): Promise<never> => {
    await deps.store.audit.append(
      auditEvent(actor, 'session.bulk_disconnect', outcome, {
        at: deps.now(),
        targetUserName: filter.userName ?? null,
        targetGatewayId: filter.gatewayId ?? null,
        reason: input.reason?.slice(0, MAX_REASON_CHARS) ?? null,
        errorCode: error.code,
        metadata: { filter, all: input.all === true, ...(sessionIds ? { sessionIds } : {}), ...error.extensions },
      }),
    );
    throw error;
  };
  if (!hasScope(actor.scopes, 'sessions:disconnect'))
    return refuse(new DomainError('FORBIDDEN', MESSAGES.disconnectForbidden), 'FORBIDDEN');
  if (sessionIds !== null) {
    if (Object.keys(filter).length > 0 || input.all === true)
      throw new DomainError('BAD_USER_INPUT', 'Give sessionIds or a filter (or all: true), not both');
    if (sessionIds.length === 0)
      throw new DomainError('BAD_USER_INPUT', 'sessionIds is empty: name at least one session');
    if (sessionIds.length > BULK_MAX_SESSION_IDS)
      throw new DomainError('BAD_USER_INPUT', `sessionIds names more than ${BULK_MAX_SESSION_IDS} sessions`);
  } else if (input.all !== true) {
    if (Object.keys(filter).length === 0)
      throw new DomainError(
        'BAD_USER_INPUT',
        'An empty filter would end every online session; give a filter, or all: true',
      );
    // Every user name contains the empty string: on its own such a filter is an empty one in disguise
    // (a script's unset variable), and with other fields it narrows nothing.
    if (filter.userNameContains === '')
      throw new DomainError(
        'BAD_USER_INPUT',
        'filter.userNameContains is empty, which every user name matches; give part of a name, or all: true',
      );
  }
  // Refused once for the whole request, not once per matching session.
  checkDisconnectText(input.reason, input.message);
  checkBlockSeconds(input.blockSeconds);
  const conflict = deps.disconnect.conflict();
  if (conflict) {
    // Before any session is read or any intent written: no agent of this prefix is known to be ours.
    const extensions = { otherDeploymentId: conflict.otherDeploymentId };
    return refuse(new DomainError('DEPLOYMENT_CONFLICT', conflictMessage(conflict), { extensions }), 'REFUSED');
  }
  const started = performance.now();
  const { sessions, notOnline } = sessionIds
    ? await chosenSessions(deps.store, sessionIds)
    : { sessions: await matchingSessions(deps.store, filter), notOnline: [] };
  const ids = sessionIds ?? sessions.map((s) => s.id);
  const results: BulkDisconnectOne[] = ids.map((sessionId) => ({ sessionId, outcome: 'ENDED', code: null }));
  const byId = new Map(results.map((r) => [r.sessionId, r]));
  const result: BulkDisconnectResult = {
    matched: ids.length,
    ended: 0,
    alreadyGone: 0,
    failed: 0,
    errors: [],
    results,
  };
  const options = {
    mode: input.mode ?? 'HALT',
    reason: input.reason,
    message: input.message,
    blockSeconds: input.blockSeconds,
  };
  // The request as each session's call records it (texts trimmed); each gets its session id and start.
  const call = deps.disconnect.call(actor, '', options);
  const outcome = (id: string, e: unknown) => {
    const one = byId.get(id)!;
    if (e === null) {
      result.ended += 1;
      return;
    }
    one.code = isDomainError(e) ? e.code : 'INTERNAL';
    if (one.code === 'SESSION_NOT_FOUND') {
      result.alreadyGone += 1;
      one.outcome = 'ALREADY_GONE';
    } else {
      const disconnect = isDomainError(e) ? (e.extensions.disconnect ?? null) : null;
      result.failed += 1;
      one.outcome = disconnect === 'NOT_SENT' || disconnect === 'UNCONFIRMED' ? disconnect : 'FAILED';
      result.errors.push({
        sessionId: id,
        code: one.code,
        message: isDomainError(e) ? e.message : 'Internal error',
        disconnect,
      });
    }
  };
  await new BulkChunks(deps, call, options, outcome).run(sessions, notOnline);
  await deps.store.audit.append(
    auditEvent(actor, 'session.bulk_disconnect', result.failed === 0 ? 'SUCCESS' : 'FAILED', {
      at: deps.now(),
      targetUserName: filter.userName ?? null,
      targetGatewayId: filter.gatewayId ?? null,
      reason: input.reason ?? null,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      metadata: {
        filter,
        all: input.all === true,
        ...(sessionIds ? { sessionIds } : {}),
        mode: options.mode,
        matched: result.matched,
        ended: result.ended,
        alreadyGone: result.alreadyGone,
        failed: result.failed,
      },
    }),
  );
  return result;
}

/** Reads the whole match first (full rows, a page at a time), so sessions ended meanwhile cannot shift the pages under us. */
async function matchingSessions(store: Store, filter: SessionFilter): Promise<Session[]> {
  const sessions: Session[] = [];
  let after = null;
  for (;;) {
    const page = await store.sessions.listOnline({ first: PAGE, after, filter });
    sessions.push(...page.rows);
    const last = page.rows.at(-1);
    if (!page.hasNextPage || !last) return sessions;
    after = { at: last.connectedAt, id: last.id };
  }
}

/** The chosen sessions that are online, and the ids that are not (the single path refuses them, audited). */
async function chosenSessions(store: Store, ids: string[]): Promise<{ sessions: Session[]; notOnline: string[] }> {
  const sessions: Session[] = [];
  const notOnline: string[] = [];
  for (const id of ids) {
    const s = await store.sessions.findOnline(id);
    if (s) sessions.push(s);
    else notOnline.push(id);
  }
  return { sessions, notOnline };
}

function definedOnly(filter: SessionFilter): SessionFilter {
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined && v !== null)) as SessionFilter;
}
