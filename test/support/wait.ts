/**
 * The one polling helper of the tests. Prefer awaiting the event itself (a promise, an emitter, a
 * bus flush) where there is one; poll where the only signal is state that changes (a row, a list
 * from the API, a process's output).
 */

/**
 * Calls `check` every `everyMs` until it returns a truthy value, which it resolves with; an error
 * `check` throws ends the wait at once. After `ms` it throws "timed out waiting for <what>"
 * (`what` may be a function, to name the state seen last).
 */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  ms = 10_000,
  what: string | (() => string) = 'condition',
  everyMs = 25,
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A pause before asserting that something did NOT happen (a duplicate, a stray delivery) where no
 * flush reaches: across a WebSocket, an SSE stream or a webhook receiver nothing marks an absence.
 * Never for waiting on something that should happen: that is `waitFor`, or the event itself.
 */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
