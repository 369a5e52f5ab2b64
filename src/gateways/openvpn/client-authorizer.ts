/**
 * Answers the daemon's `>CLIENT:CONNECT` / `>CLIENT:REAUTH` (sent only with `management-client-auth`).
 * Every one must be answered at once, or the client hangs until its handshake window ends (60 s).
 * In authorize mode a user blocked by a disconnect with `blockSeconds` is denied; the client logs
 * `AUTH_FAILED,<client reason>` and exits.
 */
import type { GatewayMode } from '../../domain/gateway.js';
import { BlockList } from './block-list.js';
import { clientDenyCommand } from './command-text.js';
import type { OpenVpnLogger } from './log.js';
import type { CommandReply } from './management-client.js';
import type { Notification } from './notification-parser.js';
import { userNameOf } from './session-reports.js';

export class ClientAuthorizer {
  private readonly blocks = new BlockList();
  private warnedObserve = false;

  constructor(
    private readonly deps: {
      gatewayId: string;
      mode: GatewayMode;
      command(text: string): Promise<CommandReply>;
      logger: OpenVpnLogger;
      /** Told of every client denied because its user is blocked (the agent audits it). */
      onDenied?(denied: { userName: string; reason: string; clientAddress: string | null }): void;
    },
  ) {}

  /** Denies the user's reconnects for `seconds` (authorize mode only); returns an undo, or null. */
  block(userName: string, seconds: number | null | undefined): (() => void) | null {
    if (this.deps.mode !== 'authorize' || !seconds || seconds <= 0) return null;
    return this.blocks.block(userName, seconds);
  }

  async answer(n: Extract<Notification, { kind: 'client' }>): Promise<void> {
    const { logger, gatewayId, mode } = this.deps;
    if (mode === 'observe' && !this.warnedObserve) {
      this.warnedObserve = true;
      logger.warn({ gatewayId }, 'openvpn: the daemon runs management-client-auth but the gateway is in observe mode; admitting every client');
    }
    const userName = userNameOf(n.env.username, n.env.common_name);
    const left = mode === 'authorize' ? this.blocks.remainingSeconds(userName) : 0;
    const kid = n.kid ?? 0;
    const text = left > 0
      ? clientDenyCommand(n.cid, kid, `blocked by switchboard for ${left} s`, `Access blocked by an administrator for ${left} more seconds`)
      : `client-auth-nt ${n.cid} ${kid}`;
    if (left > 0) {
      logger.info({ gatewayId, userName, cid: n.cid, secondsLeft: left }, 'openvpn: denied a blocked user');
      const ip = n.env.untrusted_ip ?? n.env.untrusted_ip6;
      const clientAddress = ip ? `${ip}:${n.env.untrusted_port ?? '0'}` : null;
      this.deps.onDenied?.({ userName, reason: `blocked by switchboard for ${left} s`, clientAddress });
    }
    try {
      const reply = await this.deps.command(text);
      if (!reply.ok) logger.warn({ gatewayId, cid: n.cid, reply: reply.message }, 'openvpn: client-auth refused');
    } catch (e) {
      logger.warn({ gatewayId, cid: n.cid, err: e instanceof Error ? e.message : String(e) }, 'openvpn: client-auth not delivered');
    }
  }
}
