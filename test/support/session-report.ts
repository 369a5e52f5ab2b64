/** A session report as an agent sends it, with every optional field empty; `fields` overrides. */
import type { SessionReport } from '../../src/domain/session.js';

export function sessionReport(fields: Partial<SessionReport> & Pick<SessionReport, 'ref' | 'userName'>): SessionReport {
  return {
    commonName: null,
    clientAddress: null,
    virtualAddress: null,
    virtualAddress6: null,
    connectedAt: 1,
    bytesReceived: 0,
    bytesSent: 0,
    clientVersion: null,
    clientPlatform: null,
    ...fields,
  };
}
