/**
 * Blocks after they are set: visible (`list`), liftable (`lift`, audited), and handed to the agents
 * that enforce them. The store is the source of truth; an agent keeps a copy, which it gets back
 * whenever the control plane hears a (first part of a) snapshot from its gateway, i.e. on every
 * (re)connect of its daemon link and every snapshot interval: a restarted agent, or a restarted
 * single-host process, enforces its blocks again before its daemon's clients can be answered.
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

export interface BlockFilter {
  gatewayId?: string;
  userName?: string;
}

export class BlockAdmin {
  private unsubscribe: Unsubscribe | null = null;
  private readonly now: () => number;

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

  /** Sends a gateway's blocks to its agent: after each snapshot's first part it reports. */
  start(): void {
    this.unsubscribe = this.deps.bus.subscribe(subjects.allGatewayReports, (data, subject) => {
      const gatewayId = reportSubjectGatewayId(subject);
      if (gatewayId === null || !isFirstSnapshotPart(data)) return;
      return this.publish(gatewayId);
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private async publish(gatewayId: string, lifted?: string[]): Promise<void> {
    try {
      const blocks = await this.deps.store.blocks.listActive(this.now(), { gatewayId });
      const list: BlockList = {
        gatewayId,
        blocks: blocks.map((b) => ({ userName: b.userName, until: b.until })),
        ...(lifted ? { lifted } : {}),
      };
      await this.deps.bus.publish(subjects.gatewayBlocks(gatewayId), versioned(list));
    } catch (e) {
      // The next snapshot of the gateway sends the list again.
      this.deps.logger.warn({ err: e, gatewayId }, 'could not send a gateway its blocks');
    }
  }
}

/** Only the subject and these two fields are read: the list sent is the store's, whatever the body says. */
function isFirstSnapshotPart(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const r = data as { type?: unknown; part?: { index?: unknown } };
  return r.type === 'snapshot' && (r.part === undefined || r.part.index === 0);
}

function definedOnly(filter: BlockFilter): BlockFilter {
  const out: BlockFilter = {};
  if (filter.gatewayId != null) out.gatewayId = filter.gatewayId;
  if (filter.userName != null) out.userName = filter.userName;
  return out;
}
