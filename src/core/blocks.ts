/**
 * Blocks after they are set: visible (`list`), liftable (`lift`, audited), and handed to the agents
 * that enforce them. The store is the source of truth; an agent keeps a copy, which it gets back
 * whenever the control plane hears a (first part of a) snapshot from its gateway, i.e. on every
 * (re)connect of its daemon link and every snapshot interval: a restarted agent, or a restarted
 * single-host process, enforces its blocks again before its daemon's clients are answered (an
 * OpenVPN agent holds each CONNECT until the list comes, at most 10 s: client-authorizer.ts).
 *
 * Who sends it, with several replicas: the first snapshot of an agent's run (a new `agentId` or
 * `daemonStartedAt`) a replica hears of a gateway, every replica at once, as the snapshot arrives.
 * Every later one of that run (a periodic snapshot, whose list only heals a lost message: the agent
 * has its copy) only the replica that recorded the snapshot (see `snapshotApplied`), after it did:
 * one read and one message per snapshot instead of one per replica.
 */
import type { Actor } from '../domain/actor.js';
import type { Block } from '../domain/block.js';
import { DomainError } from '../domain/errors.js';
import { hasScope } from '../domain/scopes.js';
import { reportSubjectGatewayId, subjects, type Bus, type Unsubscribe } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import { auditEvent } from './audit.js';
import type { Logger } from '../domain/logger.js';
import { versioned, type BlockList } from './reports.js';
import { snapshotMark } from './sync/snapshots.js';

type AppliedSnapshot = { gatewayId: string; agentId: string; seq: number; at: number; part?: { index: number } };

/** The replica's sync (SessionSync.onSnapshot): told after each snapshot it applied, or found applied elsewhere. */
export interface SnapshotsApplied {
  onSnapshot(listener: (r: AppliedSnapshot, here: boolean) => void): Unsubscribe;
}

export interface BlockFilter {
  gatewayId?: string;
  userName?: string;
}

export class BlockAdmin {
  private unsubscribe: Unsubscribe | null = null;
  private unlisten: Unsubscribe | null = null;
  private readonly now: () => number;
  /** Per gateway: the agent run this replica sent the list to as its snapshot arrived, and that snapshot's mark. */
  private readonly sent = new Map<string, { run: string; mark: string }>();

  constructor(private readonly deps: { store: Store; bus: Bus; logger: Logger; now?: () => number }) {
    this.now = deps.now ?? Date.now;
  }

  /** Blocks in force. Needs `sessions:read`: they name users, as sessions do. */
  async list(actor: Actor, filter: BlockFilter = {}): Promise<Block[]> {
    if (!hasScope(actor.scopes, 'sessions:read'))
      throw new DomainError('FORBIDDEN', 'The sessions:read scope is required to list blocks');
    return this.deps.store.blocks.listActive(this.now(), definedOnly(filter));
  }

  /**
   * Ends a block at once; its agent is told right after the commit (and again with every snapshot,
   * should that message be lost). Needs `sessions:disconnect`, like setting one. Audited as
   * `block.lift`, refusals and misses too.
   */
  async lift(actor: Actor, input: { gatewayId: string; userName: string; reason?: string | null }): Promise<Block> {
    const at = this.now();
    const reason = input.reason?.trim() || null;
    const target = { targetUserName: input.userName, targetGatewayId: input.gatewayId, reason };
    if (!hasScope(actor.scopes, 'sessions:disconnect')) {
      await this.deps.store.audit.append(
        auditEvent(actor, 'block.lift', 'FORBIDDEN', { at, ...target, errorCode: 'FORBIDDEN' }),
      );
      throw new DomainError('FORBIDDEN', 'The sessions:disconnect scope is required to lift blocks');
    }
    const lifted = await this.deps.store.transaction(async (tx) => {
      const block = await tx.blocks.lift(input.gatewayId, input.userName, at);
      await tx.audit.append(
        auditEvent(actor, 'block.lift', block ? 'SUCCESS' : 'NOT_FOUND', {
          at,
          ...target,
          errorCode: block ? null : 'BLOCK_NOT_FOUND',
          metadata: block ? { until: block.until, blockedBy: block.blockedByName } : {},
        }),
      );
      return block;
    });
    if (!lifted) throw new DomainError('BLOCK_NOT_FOUND', 'No block in force for that user on that gateway');
    await this.publish(input.gatewayId, [input.userName]);
    return lifted;
  }

  /**
   * Sends a gateway's blocks to its agent after each snapshot's first part it reports: at once for
   * the first of an agent run this replica hears, else once this replica's sync recorded it (see
   * the file comment).
   */
  start(sync: SnapshotsApplied): void {
    this.unlisten = sync.onSnapshot((r, here) => this.snapshotApplied(r, here));
    this.unsubscribe = this.deps.bus.subscribe(subjects.allGatewayReports, (data, subject) => {
      const gatewayId = reportSubjectGatewayId(subject);
      const first = gatewayId === null ? null : firstSnapshotPart(data);
      if (first === null) return;
      if (first.run !== null && this.sent.get(gatewayId!)?.run === first.run) return;
      const sent = { run: first.run ?? '', mark: first.mark ?? '' };
      this.sent.set(gatewayId!, sent);
      return this.publish(gatewayId!).then((ok) => {
        // Not sent: the next snapshot of the run is sent at once again, by every replica.
        if (!ok && this.sent.get(gatewayId!) === sent) this.sent.delete(gatewayId!);
      });
    });
  }

  /**
   * Sync applied a snapshot (part), or found it applied by another replica (`here` false). The
   * replica that recorded a snapshot's first part sends the list, unless it did as the snapshot
   * arrived; a replica that found it recorded leaves it to that one.
   */
  private snapshotApplied(r: AppliedSnapshot, here: boolean): void {
    if (!here || (r.part !== undefined && r.part.index !== 0)) return;
    if (this.sent.get(r.gatewayId)?.mark === snapshotMark(r)) return;
    void this.publish(r.gatewayId);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unlisten?.();
    this.unsubscribe = this.unlisten = null;
    this.sent.clear();
  }

  /** False when the list could not be read or sent (logged). */
  private async publish(gatewayId: string, lifted?: string[]): Promise<boolean> {
    try {
      const blocks = await this.deps.store.blocks.listActive(this.now(), { gatewayId });
      const list: BlockList = {
        gatewayId,
        blocks: blocks.map((b) => ({ userName: b.userName, until: b.until })),
        ...(lifted ? { lifted } : {}),
      };
      await this.deps.bus.publish(subjects.gatewayBlocks(gatewayId), versioned(list));
      return true;
    } catch (e) {
      // The next snapshot of the gateway sends the list again.
      this.deps.logger.warn({ err: e, gatewayId }, 'could not send a gateway its blocks');
      return false;
    }
  }
}

/**
 * A first snapshot part's agent run and mark, null for any other report. Only the subject and these
 * fields are read, unchecked (the list sent is the store's, whatever the body says): a run or mark
 * that cannot be read is null, and such a snapshot is sent for at once, as a new run's.
 */
function firstSnapshotPart(data: unknown): { run: string | null; mark: string | null } | null {
  if (typeof data !== 'object' || data === null) return null;
  const r = data as {
    type?: unknown;
    part?: { index?: unknown };
    agentId?: unknown;
    daemonStartedAt?: unknown;
    seq?: unknown;
    at?: unknown;
  };
  if (r.type !== 'snapshot' || (r.part !== undefined && r.part.index !== 0)) return null;
  if (typeof r.agentId !== 'string' || (r.daemonStartedAt !== null && typeof r.daemonStartedAt !== 'number'))
    return { run: null, mark: null };
  const mark =
    typeof r.seq === 'number' && typeof r.at === 'number'
      ? snapshotMark({ agentId: r.agentId, seq: r.seq, at: r.at })
      : null;
  return { run: `${r.agentId}:${String(r.daemonStartedAt)}`, mark };
}

function definedOnly(filter: BlockFilter): BlockFilter {
  const out: BlockFilter = {};
  if (filter.gatewayId != null) out.gatewayId = filter.gatewayId;
  if (filter.userName != null) out.userName = filter.userName;
  return out;
}
