/**
 * Finds the clients whose `>CLIENT:CONNECT` nobody heard. The daemon sends a CONNECT only to the
 * management client linked at that moment and never sends it again; with no one linked (the agent
 * restarting while the daemon runs, a daemon restarted without `management-hold`) the client waits,
 * half-authenticated, until its handshake window (60 s) ends. `status 3` lists it without a virtual
 * address, as it lists a client still in its TLS handshake (whose CONNECT is yet to come) or one
 * answered on the previous link and not yet established.
 *
 * So, once per link: the first status read names the suspects (listed, no virtual address, not heard
 * of on this link); a read at least `graceMs` later picks those still without an address and still
 * not heard of. The adapter restarts those (`client-kill CID`, no HALT): measured against OpenVPN
 * 2.6.14, such a client is told at once, reconnects after its 1 s restart pause with a new Client ID,
 * and its fresh CONNECT is answered from the block list like any other (admitted about 1 s after the
 * kill, or denied). A client the daemon has told this link about (CONNECT, REAUTH, ESTABLISHED,
 * DISCONNECT) or one with an address is never picked, nor is a client created after the link came up
 * (its CONNECT comes to this link), nor anything after a soft restart on this link (`forget`). A
 * CONNECT that still comes for a restarted Client ID (a client that was only slow, its question
 * crossing the kill) is not answered (`restarted`): the client has been told to reconnect and asks
 * again as a new Client ID, and admitting the old one would list a session about to go.
 */

/** How long a suspect is given to show it was only slow (its CONNECT arrives) before it is restarted. */
export const DEFAULT_LOST_CONNECT_GRACE_MS = 2_000;

export class LostConnectSweep {
  /** Client IDs the daemon told this link about. */
  private readonly heard = new Set<number>();
  /** From the link's first status read, and when it was taken; null before it and once swept. */
  private suspects: { cids: Set<number>; at: number } | null = null;
  /** This link's sweep is done (or was never needed). */
  private done = true;
  private timer: NodeJS.Timeout | undefined;
  /** Client IDs restarted on this link and daemon instance. */
  private readonly restartedIds = new Set<number>();

  constructor(
    private readonly deps: {
      /** Reads `status 3` again (its result comes back through `statusRead`). */
      rescan(): void;
      /** Restarts the client (`client-kill CID`, no HALT). */
      restart(cid: number): void;
      graceMs?: number;
      now?: () => number;
    },
  ) {}

  /** A new management link: its CONNECTs start afresh. */
  linkUp(): void {
    this.forget();
    this.heard.clear();
    this.done = false;
  }

  /** This Client ID was restarted by the sweep: a CONNECT for it is left unanswered. */
  restarted(cid: number): boolean {
    return this.restartedIds.has(cid);
  }

  /** The daemon sent a `>CLIENT:` notification for this Client ID on the current link. */
  heardOf(cid: number): void {
    this.heard.add(cid);
    this.suspects?.cids.delete(cid);
  }

  /** Nothing to sweep on this link: it went down, the adapter stopped, or a soft restart (whose clients all ask here). */
  forget(): void {
    this.finish();
    this.restartedIds.clear();
  }

  /**
   * A status read on this link: `pending` are the Client IDs it lists without a virtual address. The
   * first names the suspects and asks for another read after the grace; a read past the grace
   * restarts the suspects it still lists without an address, once.
   */
  statusRead(pending: Iterable<number>): void {
    if (this.done) return;
    const now = this.now();
    const still = new Set([...pending].filter((cid) => !this.heard.has(cid)));
    if (!this.suspects) {
      if (still.size === 0) return this.finish();
      this.suspects = { cids: still, at: now };
      this.timer = setTimeout(() => this.deps.rescan(), this.graceMs());
      this.timer.unref?.();
      return;
    }
    if (now - this.suspects.at < this.graceMs()) return;
    const due = [...this.suspects.cids].filter((cid) => still.has(cid));
    this.finish();
    for (const cid of due) {
      this.restartedIds.add(cid);
      this.deps.restart(cid);
    }
  }

  private finish(): void {
    this.suspects = null;
    this.done = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private graceMs(): number {
    return this.deps.graceMs ?? DEFAULT_LOST_CONNECT_GRACE_MS;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }
}
