/**
 * After `client-kill` over UDP the daemon keeps the client's instance for about 5 s (its delayed exit)
 * so the HALT/RESTART message can reach the client. `kill <ip:port>` drops the instance at once, but
 * sent right after the SUCCESS it races the message out of the door: measured here, 4 of 20 clients
 * killed within a millisecond of connecting never saw their HALT (and would stay "connected" until
 * their ping timeout). So the release waits a grace period (default 2.5 s: the message plus one
 * control-channel retransmit, `tls-timeout` 2 s), then kills only if the address still belongs to the
 * killed Client ID.
 */
import type { Logger } from '../../domain/logger.js';
import type { CommandReply } from './management-client.js';
import { parseStatus } from './status-parser.js';
import { errorText } from '../../domain/errors.js';

interface Release {
  address: string;
  due: number;
}

export class UdpSlotRelease {
  private readonly pending = new Map<number, Release>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      command(text: string, multiline?: boolean): Promise<CommandReply>;
      logger: Logger;
      graceMs: number;
    },
  ) {}

  /** Frees `clientId`'s instance, reachable at `address`, after the grace period. */
  schedule(clientId: number, address: string): void {
    this.pending.set(clientId, { address, due: Date.now() + this.deps.graceMs });
    this.arm();
  }

  /** Forgets everything (link down, new daemon instance, stop): the daemon's own delayed exit takes over. */
  clear(): void {
    this.pending.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.pending.size === 0) return;
    const next = Math.min(...[...this.pending.values()].map((r) => r.due));
    this.timer = setTimeout(() => void this.releaseDue(), Math.max(0, next - Date.now()));
  }

  private async releaseDue(): Promise<void> {
    this.timer = undefined;
    const now = Date.now();
    const due = [...this.pending].filter(([, r]) => r.due <= now);
    for (const [cid] of due) this.pending.delete(cid);
    if (due.length === 0) return this.arm();
    try {
      const { rows } = parseStatus((await this.deps.command('status 3', true)).lines);
      for (const [cid, { address }] of due) {
        // A new client could in theory reuse the address; `kill ip:port` would hit it, so check first.
        if (rows.find((r) => r.realAddress === address)?.clientId !== cid) continue;
        const reply = await this.deps.command(`kill ${address}`);
        this.deps.logger.debug(
          { clientId: cid, address, reply: reply.message },
          'openvpn: freed the UDP instance of a killed client',
        );
      }
    } catch (e) {
      this.deps.logger.debug(
        { err: errorText(e) },
        'openvpn: UDP release skipped; the daemon drops the instance by itself',
      );
    } finally {
      this.arm();
    }
  }
}
