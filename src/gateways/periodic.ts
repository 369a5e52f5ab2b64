/**
 * The periodic snapshot's timer. Gateways whose agents start together (a fleet restarted at once, a
 * host with many daemons) would otherwise send their full snapshots in the same second of every
 * interval, and every replica would apply them all in that second while requests wait beside them.
 * The first periodic run comes after a random part of one interval (half to one and a half of it),
 * then one every interval: each gateway keeps its own phase, spread over the interval.
 */
export function everyIntervalSpread(
  timers: NodeJS.Timeout[],
  intervalMs: number,
  run: () => void,
  random: () => number = Math.random,
): void {
  const first = Math.round(intervalMs * (0.5 + random()));
  timers.push(
    setTimeout(() => {
      run();
      timers.push(setInterval(run, intervalMs));
    }, first),
  );
}
