/**
 * RESTART on ocserv: the tunnel's worker process is killed (SIGKILL), so its client sees the
 * connection drop without a goodbye and reconnects by itself with its session cookie, as a client does
 * after a network drop — the same as OpenVPN's `client-kill` RESTART. (`occtl disconnect id` tells the
 * client the session is over, and it does not come back.) ocserv has no command for this, so it needs
 * the agent on ocserv's host, in its pid namespace, allowed to signal ocserv's workers (root).
 *
 * The process is signalled only if it is still an ocserv worker whose parent is the ocserv instance
 * the agent is linked to: the pid was read from ocserv a moment before and the OS may have reused it.
 */
import { readFileSync } from 'node:fs';
import { GatewayUnavailableError } from '../adapter.js';

/** Kills worker `pid` of ocserv `serverPid`; throws GatewayUnavailableError (nothing sent) when it cannot. */
export type WorkerReset = (pid: number, serverPid: number) => void;

/** `(comm)` and the parent pid from `/proc/<pid>/stat`; null when there is no such process here. */
export function processInfo(pid: number): { comm: string; ppid: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // `pid (comm) state ppid …`; comm may hold spaces and parentheses: it ends at the last ')'.
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  return Number.isInteger(ppid) ? { comm, ppid } : null;
}

export const killWorker: WorkerReset = (pid, serverPid) => {
  const info = processInfo(pid);
  if (!info)
    throw new GatewayUnavailableError(
      `RESTART needs the agent in ocserv's pid namespace (no process ${pid} here); nothing was sent`,
    );
  if (!info.comm.startsWith('ocserv') || info.ppid !== serverPid) {
    throw new GatewayUnavailableError(
      `process ${pid} is not a worker of ocserv ${serverPid} (${info.comm}, parent ${info.ppid}); nothing was sent`,
    );
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch (e) {
    throw new GatewayUnavailableError(
      `could not signal ocserv's worker ${pid} (${(e as NodeJS.ErrnoException).code ?? 'error'}); nothing was sent`,
    );
  }
};
