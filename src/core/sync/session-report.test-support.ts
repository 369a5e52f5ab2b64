import type { SessionReport } from '../../domain/session.js';

/** A session as an agent reports it, for sync's tests: user `u-<ref>`, the given counters. */
export function sessionReport(ref: string, connectedAt: number, bytes = 0): SessionReport {
  return {
    ref,
    userName: `u-${ref}`,
    commonName: `u-${ref}`,
    clientAddress: '127.0.0.1:5000',
    virtualAddress: '10.9.0.2',
    virtualAddress6: null,
    connectedAt,
    bytesReceived: bytes,
    bytesSent: bytes,
    clientVersion: null,
    clientPlatform: null,
  };
}
