/**
 * Answers the daemon's `>CLIENT:CONNECT` / `>CLIENT:REAUTH` (sent only with `management-client-auth`).
 * Every one must be answered at once, or the client hangs until its handshake window ends (60 s).
 * In authorize mode a user blocked by a disconnect with `blockSeconds` is denied; the client logs
 * `AUTH_FAILED,<client reason>` and exits. The user is the verified identity (`userNameOf`): with
 * `identity: certificate` a username the client sends changes nothing, so it cannot pose as another
 * user or slip past a block. A client without that identity (no common name; with `identity:
 * username`, no username) is denied: it could not be named, listed or blocked.
 *
 * The blocks live in the control plane's store; this process holds a copy it gets after its link's
 * first snapshot. Until that first list arrives (a process just started: milliseconds in one
 * process, a round trip over NATS), a CONNECT is held, not answered: answering it from an empty list
 * would admit a blocked user. Held ones are answered once the list comes, or after `listWaitMs`
 * (default 10 s, inside the client's 60 s window) from what is known, with a warning: a control plane
 * that cannot be reached does not keep every new client out. A REAUTH (a session already admitted
 * renegotiating) is answered at once.
 */
import type { GatewayIdentity, GatewayMode } from '../../domain/gateway.js';
import type { BlockEntry } from '../../domain/block.js';
import { BlockList } from '../block-list.js';
import { clientDenyCommand } from './command-text.js';
import type { Logger } from '../../domain/logger.js';
import type { CommandReply } from './management-client.js';
import type { Notification } from './notification-parser.js';
import { sentUserName, userNameOf } from './session-reports.js';
import { MAX_USER_NAME_CHARS } from '../../domain/input-limits.js';
import { errorText } from '../../domain/errors.js';

type ClientNotification = Extract<Notification, { kind: 'client' }>;

/** How long a CONNECT is held for the control plane's first block list (see the file comment). */
export const DEFAULT_LIST_WAIT_MS = 10_000;

export class ClientAuthorizer {
  private readonly blocks = new BlockList();
  /** The control plane's list came (or the wait for it ended): CONNECTs are answered at once. */
  private listed: boolean;
  private held: ClientNotification[] = [];
  private listTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      gatewayId: string;
      mode: GatewayMode;
      identity: GatewayIdentity;
      command(text: string): Promise<CommandReply>;
      logger: Logger;
      /** Told of every client denied because its user is blocked (the agent audits it). */
      onDenied?(denied: { userName: string; reason: string; clientAddress: string | null }): void;
      /** How long a CONNECT waits for the first block list (default DEFAULT_LIST_WAIT_MS). */
      listWaitMs?: number;
    },
  ) {
    this.listed = deps.mode !== 'authorize';
  }

  /** Denies the user's reconnects for `seconds` (authorize mode only); returns an undo, or null. */
  block(userName: string, seconds: number | null | undefined): (() => void) | null {
    if (this.deps.mode !== 'authorize' || !seconds || seconds <= 0) return null;
    return this.blocks.block(userName, seconds);
  }

  /** The control plane's blocks for this gateway (see BlockList.replace). */
  setBlocks(entries: BlockEntry[], lifted?: string[]): void {
    this.blocks.replace(entries, lifted);
    this.answerHeld();
  }

  /** Answers a CONNECT or REAUTH (a CONNECT is held while the first block list has not come). */
  answer(n: ClientNotification): Promise<void> {
    if (this.listed || n.event !== 'CONNECT') return this.decide(n);
    this.held.push(n);
    this.listTimer ??= setTimeout(() => {
      this.deps.logger.warn(
        { gatewayId: this.deps.gatewayId, waitedMs: this.listWaitMs(), held: this.held.length },
        'openvpn: no block list from the control plane yet; answering clients without it (a blocked user may get in until it comes)',
      );
      this.answerHeld();
    }, this.listWaitMs());
    this.listTimer.unref?.();
    return Promise.resolve();
  }

  /**
   * The management link went down: held CONNECTs are dropped, not answered on a later link. A Client
   * ID names a client of one daemon instance only; the daemon may come back as a new one, whose
   * clients count from 0 again, and an old answer would admit whichever new client has that ID. The
   * dropped clients are left to the next link, which finds them in `status 3` and restarts them so that
   * they ask again (lost-connect-sweep.ts).
   */
  linkDown(): void {
    this.held = [];
  }

  /** The adapter stopped: as `linkDown`, and no wait for the list runs on. */
  stop(): void {
    this.linkDown();
    clearTimeout(this.listTimer);
    this.listTimer = undefined;
  }

  private listWaitMs(): number {
    return this.deps.listWaitMs ?? DEFAULT_LIST_WAIT_MS;
  }

  private answerHeld(): void {
    this.listed = true;
    clearTimeout(this.listTimer);
    this.listTimer = undefined;
    for (const n of this.held.splice(0)) void this.decide(n);
  }

  private async decide(n: ClientNotification): Promise<void> {
    const { logger, gatewayId, mode } = this.deps;
    const userName = userNameOf(this.deps.identity, n.env.username, n.env.common_name);
    const left = mode === 'authorize' ? this.blocks.remainingSeconds(userName) : 0;
    const unnamed = mode === 'authorize' ? this.missingIdentity(n.env) : null;
    const kid = n.kid ?? 0;
    let text = `client-auth-nt ${n.cid} ${kid}`;
    if (unnamed) {
      logger.warn(
        { gatewayId, cid: n.cid, identity: this.deps.identity },
        `openvpn: denied a client without ${unnamed}`,
      );
      text = clientDenyCommand(n.cid, kid, `no ${unnamed}`, `No ${unnamed}`);
    } else if (mode === 'authorize' && userName.length > MAX_USER_NAME_CHARS) {
      // The daemon passes a username of about 1,000 characters (2.6.14, measured); a session under it
      // would not fit an agent's report, and the agent would drop every snapshot it was in.
      logger.warn(
        { gatewayId, cid: n.cid, identity: this.deps.identity, length: userName.length },
        'openvpn: denied a client whose user name is too long to record',
      );
      text = clientDenyCommand(
        n.cid,
        kid,
        `user name longer than ${MAX_USER_NAME_CHARS} characters`,
        `User name longer than ${MAX_USER_NAME_CHARS} characters`,
      );
    } else if (left > 0) {
      text = clientDenyCommand(
        n.cid,
        kid,
        `blocked by switchboard for ${left} s`,
        `Access blocked by an administrator for ${left} more seconds`,
      );
      logger.info({ gatewayId, userName, cid: n.cid, secondsLeft: left }, 'openvpn: denied a blocked user');
      const ip = n.env.untrusted_ip ?? n.env.untrusted_ip6;
      const clientAddress = ip ? `${ip}:${n.env.untrusted_port ?? '0'}` : null;
      this.deps.onDenied?.({ userName, reason: `blocked by switchboard for ${left} s`, clientAddress });
    }
    try {
      const reply = await this.deps.command(text);
      if (!reply.ok) logger.warn({ gatewayId, cid: n.cid, reply: reply.message }, 'openvpn: client-auth refused');
    } catch (e) {
      logger.warn({ gatewayId, cid: n.cid, err: errorText(e) }, 'openvpn: client-auth not delivered');
    }
  }

  /** What the client lacks of the identity the gateway names users by, or null. */
  private missingIdentity(env: Record<string, string>): string | null {
    if (this.deps.identity === 'username') return sentUserName(env.username) ? null : 'username';
    return env.common_name ? null : 'certificate common name';
  }
}
