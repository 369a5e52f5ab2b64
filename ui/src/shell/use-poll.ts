import { useEffect, useRef } from 'react';

/** Calls `tick` now and every `ms` while mounted (and while `enabled`), never overlapping itself. */
export function usePoll(tick: () => Promise<void>, ms: number, deps: readonly unknown[], enabled = true): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await latest.current();
      } finally {
        if (!stopped) timer = setTimeout(run, ms);
      }
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [ms, enabled, ...deps]); // `tick` is read through a ref: a new closure each render must not restart the timer.
}
