/**
 * The session ref of an ocserv tunnel: `<worker pid>:<safe id>`, and its SessionReport.
 *
 * Why both parts: ocserv's `ID` is the worker's process id, which the OS hands out again once the
 * worker is gone, so a PID alone could name a later tunnel. The safe id (`Full session`, a hash of
 * the session cookie) is random per authentication, so a reused PID comes with another safe id. A
 * client that reconnects with the same cookie (its network dropped) gets a new worker, so a new PID:
 * a new session, as a reconnect is everywhere else. Both parts are read from ocserv on every listing,
 * so the ref is the same after a restart of Switchboard. The connect time is not part of it: occtl
 * prints it to the minute in local time or as an age that loses its seconds after an hour, so it
 * would not come out the same on every read.
 */
import type { SessionReport } from '../../domain/session.js';
import type { OcservUser } from './occtl-output.js';

export interface OcservRef {
  pid: number;
  safeId: string;
}

export function sessionRef(user: Pick<OcservUser, 'id' | 'safeId'>): string {
  return `${user.id}:${user.safeId}`;
}

export function parseSessionRef(ref: string): OcservRef | null {
  const m = /^(\d{1,10}):([A-Za-z0-9+/=._-]{6,64})$/.exec(ref);
  if (!m) return null;
  const pid = Number(m[1]);
  return pid > 0 ? { pid, safeId: m[2]! } : null;
}

/** Whether `user` is the tunnel `ref` names (the same worker *and* the same session cookie). */
export function sameTunnel(ref: OcservRef, user: Pick<OcservUser, 'id' | 'safeId'>): boolean {
  return user.id === ref.pid && user.safeId === ref.safeId;
}

/**
 * The SessionReport of a connected user. `connectedAt` is the first value seen for the ref (occtl
 * prints an age, so each read would move it by up to a second).
 */
export function reportOf(user: OcservUser, connectedAt = user.connectedAt): SessionReport {
  return {
    ref: sessionRef(user),
    userName: user.userName,
    commonName: null,
    clientAddress: user.remoteIp,
    virtualAddress: user.ipv4,
    virtualAddress6: user.ipv6,
    connectedAt,
    bytesReceived: user.bytesReceived,
    bytesSent: user.bytesSent,
    clientVersion: user.userAgent,
    clientPlatform: null,
    group: user.groupName,
    device: user.device,
  };
}
