/**
 * Whether the daemon runs `management-client-auth`, learned from what it sends, since no management
 * command tells: `help`, `status`, `state`, `log all`, `load-stats` and the replies to `client-auth`,
 * `client-deny` and `client-kill` read the same with and without it (measured, OpenVPN 2.6.14).
 * - `>CLIENT:CONNECT`, `REAUTH` or `DISCONNECT`: it does (they are sent only with it).
 * - `>CLIENT:ESTABLISHED` of a client created after this link came up, with no CONNECT before it: it
 *   does not (a client created earlier may have been asked on a previous link).
 * Until one of those, it is not known. A new daemon instance starts over.
 */
import type { GatewayCapabilities, GatewayMode } from '../../domain/gateway.js';
import type { Notification } from './notification-parser.js';

export class ClientAuthDetector {
  private state: boolean | null = null;
  /** Seconds; clients created after this were announced on the current link. */
  private linkUpAt = Number.POSITIVE_INFINITY;
  private readonly asked = new Set<number>();

  /** True: it runs management-client-auth; false: it does not; null: not known yet. */
  get clientAuth(): boolean | null {
    return this.state;
  }

  linkUp(nowMs: number): void {
    this.linkUpAt = Math.floor(nowMs / 1000);
    this.asked.clear();
  }

  /** Another daemon instance: what was learned of the old one may not hold. */
  reset(): void {
    this.state = null;
    this.asked.clear();
  }

  /** Returns true when this notification changed what is known. */
  observe(n: Extract<Notification, { kind: 'client' }>): boolean {
    if (n.event === 'CONNECT' || n.event === 'REAUTH') {
      this.asked.add(n.cid);
      return this.set(true);
    }
    if (n.event === 'DISCONNECT') {
      this.asked.delete(n.cid);
      return this.set(true);
    }
    if (n.event === 'ESTABLISHED') {
      const askedFirst = this.asked.delete(n.cid);
      const created = Number(n.env.time_unix);
      if (!askedFirst && Number.isSafeInteger(created) && created > this.linkUpAt) return this.set(false);
    }
    return false;
  }

  private set(value: boolean): boolean {
    if (this.state === value) return false;
    this.state = value;
    return true;
  }
}

/** What a gateway in `mode` can do with a daemon that does (or does not, or may) run management-client-auth. */
export function capabilitiesOf(mode: GatewayMode, clientAuth: boolean | null): GatewayCapabilities {
  if (mode === 'authorize') {
    return clientAuth === false
      ? {
          canBlock: false,
          warning:
            'mode is authorize but the daemon does not run management-client-auth: it admits clients without asking, so users cannot be blocked (add management-client-auth to its config, or set mode: observe)',
        }
      : { canBlock: true, warning: null };
  }
  return clientAuth === true
    ? {
        canBlock: false,
        warning:
          'mode is observe but the daemon runs management-client-auth: every client is admitted and none can be blocked (set mode: authorize)',
      }
    : { canBlock: false, warning: null };
}
