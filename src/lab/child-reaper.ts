/**
 * Child processes a lab or test started, killed synchronously if this process exits without tearing
 * them down, so no daemon outlives the run that spawned it.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Tracks `child` until it exits; returns its PID. */
export function reapOnExit(child: ChildProcess): number {
  const pid = child.pid;
  if (pid === undefined) throw new Error('child process has no pid (it failed to start)');
  live.add(pid);
  child.once('exit', () => live.delete(pid));
  return pid;
}
