/**
 * Answers the daemon's `>CLIENT:CONNECT` / `>CLIENT:REAUTH` (sent only with `management-client-auth`).
 * Every one must be answered at once, or the client hangs until its handshake window ends (60 s).
 * In authorize mode a user blocked by a disconnect with `blockSeconds` is denied; the client logs
 * `AUTH_FAILED,<client reason>` and exits. The user is the verified identity (`userNameOf`): with
 * `identity: certificate` a username the client sends changes nothing, so it cannot pose as another
 * user or slip past a block. A client without that identity (no common name; with `identity:
 * username`, no username) is denied: it could not be named, listed or blocked.
 */
import type { GatewayIdentity, GatewayMode } from '../../domain/gateway.js';
import type { BlockEntry } from '../../domain/block.js';
import { BlockList } from '../block-list.js';
import { clientDenyCommand } from './command-text.js';
import type { Logger } from '../../domain/logger.js';
import type { CommandReply } from './management-client.js';
import type { Notification } from './notification-parser.js';
import { sentUserName, userNameOf } from './session-reports.js';
import { errorText } from '../../domain/errors.js';

export class ClientAuthorizer {
  private readonly blocks = new BlockList();

  constructor(
    private readonly deps: {
      gatewayId: string;
      mode: GatewayMode;
      identity: GatewayIdentity;
      command(text: string): Promise<CommandReply>;
      logger: Logger;
      /** Told of every client denied because its user is blocked (the agent audits it). */
      onDenied?(denied: { userName: string; reason: string; clientAddress: string | null }): void;
    },
  ) {}

  /** Denies the user's reconnects for `seconds` (authorize mode only); returns an undo, or null. */
  block(userName: string, seconds: number | null | undefined): (() => void) | null {
    if (this.deps.mode !== 'authorize' || !seconds || seconds <= 0) return null;
    return this.blocks.block(userName, seconds);
  }

  /** The control plane's blocks for this gateway (see BlockList.replace). */
  setBlocks(entries: BlockEntry[], lifted?: string[]): void {
    this.blocks.replace(entries, lifted);
  }

  async answer(n: Extract<Notification, { kind: 'client' }>): Promise<void> {
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
