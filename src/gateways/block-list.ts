/**
 * Users whose reconnects are denied for a while after an operator disconnected them with
 * `blockSeconds` (OpenVPN in authorize mode, ocserv). The control plane's store is the source of truth: the agent
 * loads this list from it at start and whenever it changes (`replace`), so a block outlives a restart
 * of the agent; a block set here by a disconnect in flight holds until the store has it.
 */
import type { BlockEntry } from '../domain/block.js';

/** How long a block set here by a disconnect survives a list from the control plane that lacks it (not committed yet). */
const UNCONFIRMED_GRACE_MS = 30_000;

export class BlockList {
  private readonly until = new Map<string, number>();
  /** Blocks set here by a disconnect, by when: a list read before its commit does not lift them. */
  private readonly local = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Blocks the user for `seconds` (never shortening a longer block); returns a function that undoes it. */
  block(userName: string, seconds: number): () => void {
    const previous = this.until.get(userName);
    this.until.set(userName, Math.max(this.now() + seconds * 1000, previous ?? 0));
    this.local.set(userName, this.now());
    return () => {
      this.local.delete(userName);
      if (previous === undefined) this.until.delete(userName);
      else this.until.set(userName, previous);
    };
  }

  /**
   * The control plane's list: it replaces what is here, except blocks set here moments ago that it
   * does not have yet. `lifted` users are unblocked whatever this list knew.
   */
  replace(entries: BlockEntry[], lifted: string[] = []): void {
    const now = this.now();
    const kept = new Map<string, number>();
    for (const [user, at] of this.local) {
      const until = this.until.get(user);
      if (until !== undefined && now - at < UNCONFIRMED_GRACE_MS && !lifted.includes(user)) kept.set(user, until);
      else this.local.delete(user);
    }
    this.until.clear();
    for (const [user, until] of kept) this.until.set(user, until);
    for (const e of entries)
      if (e.until > now) this.until.set(e.userName, Math.max(e.until, this.until.get(e.userName) ?? 0));
  }

  /** The blocks in force (for an adapter that hands them to its daemon, e.g. ocserv's connect-script). */
  entries(): BlockEntry[] {
    const now = this.now();
    return [...this.until].filter(([, until]) => until > now).map(([userName, until]) => ({ userName, until }));
  }

  /** Seconds left on the user's block, 0 when not blocked. Expired entries are dropped. */
  remainingSeconds(userName: string): number {
    const until = this.until.get(userName);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) {
      this.until.delete(userName);
      this.local.delete(userName);
      return 0;
    }
    return Math.ceil(left / 1000);
  }
}
