/**
 * Runs `occtl` against one ocserv's control socket, one short-lived process per command (occtl
 * speaks a private protobuf protocol; the binary is its only stable client). Every command has a
 * deadline after which the process is killed; its output is parsed by occtl-output.ts.
 *
 * Exit codes (occtl 1.1.6): 0 done; 1 the server could not be reached, or refused (`could not
 * disconnect ID`); 2 `show id`/`show user` found nothing (the JSON is then `[]`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { GatewayUnavailableError } from '../adapter.js';
import {
  namesFromText,
  namesLost,
  parseStatus,
  parseUsers,
  type OcservStatus,
  type OcservUser,
} from './occtl-output.js';

/** Where and how occtl runs (a gateway entry's `occtlSocket`, `occtl`, `netns`). */
export interface OcctlTarget {
  /** ocserv's `occtl-socket-file`. */
  socket: string;
  /** The occtl binary (default `occtl` on PATH). */
  binary?: string;
  /** Run occtl in this network namespace (`ip netns exec NAME`): ocserv's, if it runs in one. */
  netns?: string;
}

export interface OcctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one occtl command line; rejects only when the process could not run or timed out. */
export type OcctlRunner = (args: string[], timeoutMs: number) => Promise<OcctlResult>;

/**
 * The argv that runs occtl with `args` for `target`, in its network namespace if it has one, under
 * `wrapper` (e.g. `stdbuf -oL`) if given.
 */
export function occtlArgv(target: OcctlTarget, args: string[], wrapper: string[] = []): string[] {
  const occtl = [...wrapper, target.binary ?? 'occtl', '-s', target.socket, ...args];
  return target.netns ? ['ip', 'netns', 'exec', target.netns, ...occtl] : occtl;
}

/**
 * occtl timed out: it was killed, and a command it carried may or may not have reached ocserv. Only
 * `disconnect` changes anything (a stalled ocserv may run it when it resumes: `mayTakeEffect`); a
 * `show` that got no answer did nothing.
 */
export class OcctlTimeoutError extends GatewayUnavailableError {
  constructor(args: string[], timeoutMs: number) {
    super(`occtl ${args.join(' ')} gave no answer within ${timeoutMs} ms`, {
      mayTakeEffect: args[0] === 'disconnect',
    });
    this.name = 'OcctlTimeoutError';
  }
}

export function processRunner(target: OcctlTarget): OcctlRunner {
  return (args, timeoutMs) =>
    new Promise((resolve, reject) => {
      const [file, ...rest] = occtlArgv(target, args);
      const child: ChildProcess = execFile(
        file!,
        rest,
        { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, PAGER: 'cat' } },
        (error, stdout, stderr) => {
          clearTimeout(timer);
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          if (code === null)
            return reject(new GatewayUnavailableError(`occtl could not run: ${error?.message ?? 'unknown error'}`));
          resolve({ code, stdout, stderr });
        },
      );
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new OcctlTimeoutError(args, timeoutMs));
      }, timeoutMs);
    });
}

/** What ocserv answered to `disconnect id N`. */
export type DisconnectReply = 'disconnected' | 'refused';

export class OcctlClient {
  /**
   * Names read again from the text of `show id` (see `withNames`), by `id:safeId`: a tunnel's names do
   * not change, so each is read once. Entries of tunnels a full listing no longer shows are dropped.
   */
  private readonly textNames = new Map<string, Pick<OcservUser, 'userName' | 'groupName'>>();

  constructor(
    private readonly run: OcctlRunner,
    private readonly timeoutMs = 5_000,
  ) {}

  /** Every user ocserv lists, in any state. Throws when ocserv cannot be reached. */
  async users(timeoutMs = this.timeoutMs): Promise<OcservUser[]> {
    const r = await this.call(['-j', 'show', 'users'], timeoutMs);
    if (r.code !== 0 && !isEmptyList(r)) throw unreachable(r);
    const users = parseUsers(r.stdout);
    const listed = new Set(users.map(key));
    for (const k of this.textNames.keys()) if (!listed.has(k)) this.textNames.delete(k);
    const named = await Promise.all(users.map((u) => this.withNames(u, timeoutMs)));
    return named.filter((u): u is OcservUser => u !== null);
  }

  /** The user with worker id `id`, or null when ocserv has none. */
  async user(id: number, timeoutMs = this.timeoutMs): Promise<OcservUser | null> {
    const r = await this.call(['-j', 'show', 'id', String(id)], timeoutMs);
    if (r.code === 2 || isEmptyList(r)) return null;
    if (r.code !== 0) throw unreachable(r);
    const user = parseUsers(r.stdout).find((u) => u.id === id);
    return user ? this.withNames(user, timeoutMs) : null;
  }

  /**
   * `user` with its real names: a connected tunnel whose JSON names lost non-ASCII characters (see
   * occtl-output.ts) has them read from the text of `show id`; null when it has gone meanwhile. Rows
   * not connected yet are left as they are (the session table lists only connected ones).
   */
  private async withNames(user: OcservUser, timeoutMs: number): Promise<OcservUser | null> {
    if (user.state !== 'connected' || !namesLost(user)) return user;
    const known = this.textNames.get(key(user));
    if (known) return { ...user, ...known };
    const r = await this.call(['show', 'id', String(user.id)], timeoutMs);
    if (r.code === 2) return null;
    if (r.code !== 0) throw unreachable(r);
    const named = namesFromText(r.stdout, user);
    this.textNames.set(key(user), { userName: named.userName, groupName: named.groupName });
    return named;
  }

  async status(timeoutMs = this.timeoutMs): Promise<OcservStatus> {
    const r = await this.call(['-j', 'show', 'status'], timeoutMs);
    if (r.code !== 0) throw unreachable(r);
    return parseStatus(r.stdout);
  }

  /**
   * `disconnect id N`: `disconnected` when ocserv said so, `refused` when it said it could not (no
   * such worker). A timeout rejects with OcctlTimeoutError: the command may still have run.
   */
  async disconnect(id: number, timeoutMs = this.timeoutMs): Promise<DisconnectReply> {
    const r = await this.call(['disconnect', 'id', String(id)], timeoutMs);
    if (r.code === 0 && /was disconnected/.test(r.stdout)) return 'disconnected';
    if (/could not disconnect/.test(r.stdout)) return 'refused';
    throw unreachable(r);
  }

  private call(args: string[], timeoutMs: number): Promise<OcctlResult> {
    return this.run(args, Math.max(1, timeoutMs));
  }
}

function key(user: OcservUser): string {
  return `${user.id}:${user.safeId}`;
}

/** `show users` / `show id` with nothing to list print `[` and `]` (and exit 2 for `show id`). */
function isEmptyList(r: OcctlResult): boolean {
  return (r.code === 0 || r.code === 2) && /^\s*\[\s*\]\s*$/.test(r.stdout);
}

function unreachable(r: OcctlResult): GatewayUnavailableError {
  const why = (r.stderr.trim() || r.stdout.trim()).split('\n')[0]?.slice(0, 200) || `exit code ${r.code}`;
  return new GatewayUnavailableError(`ocserv cannot be reached over its occtl socket: ${why}`);
}
