/**
 * ocserv's live event stream: one long-running `occtl show events` whose text lines announce each
 * connect and disconnect (parsed by occtl-output.ts). The process ends when ocserv stops or its
 * socket breaks, which is how the adapter learns at once that ocserv is gone.
 *
 * occtl writes through stdio, block-buffered into a pipe, so it runs under `stdbuf -oL` to get each
 * line when it happens. Its stdin stays an open, silent pipe: occtl waits on it for `q`, and at end of
 * file it would spin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { occtlArgv, type OcctlTarget } from './occtl-client.js';
import { parseEventLine, type OcservEvent } from './occtl-output.js';

export interface EventStreamHandlers {
  /** The stream is up: occtl printed its initial listing (events from here on are live). */
  onReady(): void;
  onEvent(event: OcservEvent): void;
  /** The process ended (ocserv stopped, the socket broke, or `stop()`): `why` for the log. */
  onEnd(why: string): void;
}

export class OcctlEventStream {
  private child: ChildProcess | null = null;
  private ended = false;

  constructor(
    private readonly target: OcctlTarget,
    private readonly handlers: EventStreamHandlers,
  ) {}

  start(): void {
    const [file, ...args] = occtlArgv(this.target, ['show', 'events'], ['stdbuf', '-oL']);
    const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PAGER: 'cat' } });
    this.child = child;
    let stderr = '';
    let ready = false;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    child.stdin?.on('error', () => undefined);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!ready && /Press 'q'/.test(line)) {
        ready = true;
        this.handlers.onReady();
        return;
      }
      if (!ready) return;
      const event = parseEventLine(line);
      if (event) this.handlers.onEvent(event);
    });
    const end = (why: string) => {
      if (this.ended) return;
      this.ended = true;
      this.child = null;
      this.handlers.onEnd(why);
    };
    child.on('error', (e) => end(`occtl show events could not run: ${e.message}`));
    // 'close': the process has exited and its output is read to the end.
    child.on('close', (code, signal) =>
      end(stderr.trim().split('\n').at(-1) || `occtl show events exited (${signal ?? code})`),
    );
  }

  /** Ends the stream (its `onEnd` still fires once). */
  stop(): void {
    this.child?.kill('SIGTERM');
  }

  get running(): boolean {
    return this.child !== null && !this.ended;
  }
}
