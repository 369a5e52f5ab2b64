/**
 * The daemon liveness probe. OpenVPN is single-threaded: a daemon that is stopped (SIGSTOP), wedged,
 * or busy in a slow `client-connect` script answers nothing, and a `client-kill` written meanwhile is
 * queued and runs whenever the daemon resumes — long after the caller was told it failed. So while
 * the link is up, a cheap command is sent every `intervalMs`; no answer within `timeoutMs` (and no
 * other byte from the daemon meanwhile) marks the daemon as not responding, and the next answer marks
 * it responding again. The adapter refuses to write disconnects while it is not responding.
 *
 * One probe is outstanding at a time. Bytes the daemon sends while a probe waits (a long `status`
 * reply streaming in) count as an answer: a busy daemon is not a stalled one.
 */

export interface DaemonProbeOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Sends the probe command; resolves on any answer, rejects when none came within `timeoutMs`. */
  send(timeoutMs: number): Promise<unknown>;
  /** A number that changes whenever the daemon sends anything (see ManagementClient.received). */
  activity(): number;
  /** Called on every change of `responding`. */
  onChange(responding: boolean): void;
}

/** Defaults: a stall is noticed within about 5 s (one interval plus the timeout). */
export const DEFAULT_PROBE = { intervalMs: 2_000, timeoutMs: 3_000 } as const;

export class DaemonProbe {
  private timer: NodeJS.Timeout | undefined;
  private outstanding = false;
  /** Bumped by start/stop: the result of a probe sent on an earlier link is ignored. */
  private generation = 0;
  private state = true;

  constructor(private readonly o: DaemonProbeOptions) {}

  /** True until a probe goes unanswered; true again on the next answer. */
  get responding(): boolean {
    return this.state;
  }

  /** A link came up. Its banner was an answer, so the daemon is responding; probing starts. */
  start(): void {
    this.stop();
    this.set(true);
    this.timer = setInterval(() => this.tick(), this.o.intervalMs);
    this.timer.unref?.();
  }

  /** The link went down (its own signal then): no more probes; a probe in flight is disregarded. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.generation += 1;
    this.outstanding = false;
  }

  private tick(): void {
    if (this.outstanding) return;
    this.outstanding = true;
    const generation = this.generation;
    const mark = this.o.activity();
    this.o.send(this.o.timeoutMs).then(
      () => {
        if (generation !== this.generation) return;
        this.outstanding = false;
        this.set(true);
      },
      () => {
        if (generation !== this.generation) return;
        this.outstanding = false;
        if (this.o.activity() === mark) this.set(false);
      },
    );
  }

  private set(responding: boolean): void {
    if (this.state === responding) return;
    this.state = responding;
    this.o.onChange(responding);
  }
}
