/**
 * Users whose reconnects are denied for a while after an operator disconnected them with
 * `blockSeconds` (authorize mode only). Kept in the adapter's memory: it is short-lived by design.
 */
export class BlockList {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Blocks the user for `seconds` (never shortening a longer block); returns a function that undoes it. */
  block(userName: string, seconds: number): () => void {
    const previous = this.until.get(userName);
    this.until.set(userName, Math.max(this.now() + seconds * 1000, previous ?? 0));
    return () => {
      if (previous === undefined) this.until.delete(userName);
      else this.until.set(userName, previous);
    };
  }

  /** Seconds left on the user's block, 0 when not blocked. Expired entries are dropped. */
  remainingSeconds(userName: string): number {
    const until = this.until.get(userName);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) {
      this.until.delete(userName);
      return 0;
    }
    return Math.ceil(left / 1000);
  }
}
