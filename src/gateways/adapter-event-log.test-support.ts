/** Records what an adapter emits and lets a test wait for a particular event. */
import type { AdapterEvent } from './adapter.js';

type Of<T extends AdapterEvent['type']> = Extract<AdapterEvent, { type: T }>;

export class AdapterEventLog {
  readonly events: AdapterEvent[] = [];
  private readonly waiters = new Set<() => void>();

  /** Pass this to `adapter.start`. */
  readonly push = (event: AdapterEvent): void => {
    this.events.push(event);
    for (const wake of [...this.waiters]) wake();
  };

  /** A mark for `waitFor({ from })`. */
  mark(): number {
    return this.events.length;
  }

  /** The first event of `type` matching `match` at or after `from` (default: any so far). */
  async waitFor<T extends AdapterEvent['type']>(
    type: T,
    match: (event: Of<T>) => boolean = () => true,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Of<T>> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const found = this.events.slice(options.from ?? 0).find((e): e is Of<T> => e.type === type && match(e as Of<T>));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${type} event in time; got: ${this.events
            .slice(-8)
            .map((e) => JSON.stringify(e))
            .join('\n')}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.waiters;
        waiters.add(done);
      });
    }
  }

  /** Events of `type` at or after `from`. */
  all<T extends AdapterEvent['type']>(type: T, from = 0): Of<T>[] {
    return this.events.slice(from).filter((e): e is Of<T> => e.type === type);
  }
}
