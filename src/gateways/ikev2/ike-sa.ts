/**
 * IKE SAs as charon's VICI reports them (`list-sa` events, `ike-updown` and `child-updown` events),
 * checked with one schema at the edge, and turned into Switchboard's session reports.
 *
 * The session ref is `<uniqueid>:<initiator SPI>:<responder SPI>`. charon's unique id alone restarts
 * at 1 with every charon process, so after a restart `1` would name a different user's SA; the SPI
 * pair is chosen afresh (64 random bits from each side) for every IKE SA, so a ref never names two
 * SAs, across restarts of charon and of Switchboard alike, and the same SA always gives the same ref.
 */
import { z } from 'zod';
import type { SessionReport } from '../../domain/session.js';
import type { ViciMessage } from './vici-codec.js';

const text = z.string();
const count = z.string().regex(/^\d+$/).transform(Number);

const childSaSchema = z.object({
  name: text,
  uniqueid: count,
  state: text,
  'bytes-in': count.optional(),
  'bytes-out': count.optional(),
  'encr-alg': text.optional(),
  'encr-keysize': text.optional(),
  'integ-alg': text.optional(),
});

export const ikeSaSchema = z.object({
  uniqueid: count,
  version: text.optional(),
  state: text,
  'local-host': text.optional(),
  'remote-host': text.optional(),
  'remote-port': count.optional(),
  'remote-id': text.optional(),
  'remote-eap-id': text.optional(),
  'remote-xauth-id': text.optional(),
  'initiator-spi': z.string().regex(/^[0-9a-f]{16}$/),
  'responder-spi': z.string().regex(/^[0-9a-f]{16}$/),
  'encr-alg': text.optional(),
  'encr-keysize': text.optional(),
  'integ-alg': text.optional(),
  'prf-alg': text.optional(),
  'dh-group': text.optional(),
  /** Seconds since the SA was established (absent before). */
  established: count.optional(),
  'remote-vips': z.array(text).optional(),
  'child-sas': z.record(z.string(), childSaSchema).optional(),
});
export type IkeSa = z.infer<typeof ikeSaSchema> & { conn: string };

/** States in which an IKE SA is a live session (REKEYED/DELETING/DESTROYING ones are on their way out). */
const LIVE = new Set(['ESTABLISHED', 'REKEYING']);

/**
 * The IKE SAs in one VICI message shaped `{ <connection name>: <IKE SA> }` (list-sa, and the updown
 * events, whose `up` key is not a section). A section that does not match the schema is reported in
 * `invalid` and left out, never guessed at.
 */
export function ikeSasOf(message: ViciMessage): { sas: IkeSa[]; invalid: string[] } {
  const sas: IkeSa[] = [];
  const invalid: string[] = [];
  for (const [conn, value] of Object.entries(message)) {
    if (typeof value === 'string' || Array.isArray(value)) continue;
    const parsed = ikeSaSchema.safeParse(value);
    if (parsed.success) sas.push({ ...parsed.data, conn });
    else invalid.push(`${conn}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  return { sas, invalid };
}

export function isLive(sa: IkeSa): boolean {
  return LIVE.has(sa.state);
}

export function ikeSessionRef(sa: Pick<IkeSa, 'uniqueid' | 'initiator-spi' | 'responder-spi'>): string {
  return `${sa.uniqueid}:${sa['initiator-spi']}:${sa['responder-spi']}`;
}

/** The unique id in a ref made by `ikeSessionRef`, or null for anything else. */
export function uniqueIdOf(ref: string): number | null {
  const m = /^(\d{1,10}):[0-9a-f]{16}:[0-9a-f]{16}$/.exec(ref);
  return m ? Number(m[1]) : null;
}

/**
 * The authenticated user: the EAP identity when the peer authenticated with EAP (charon lists
 * `remote-eap-id` only then), else the XAuth identity, else the IKE identity the peer proved with its
 * certificate (its subject) or pre-shared key.
 */
export function userNameOf(sa: IkeSa): string {
  return sa['remote-eap-id'] ?? sa['remote-xauth-id'] ?? sa['remote-id'] ?? '';
}

/** `AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519`, as swanctl prints it. */
export function ikeAlgorithms(sa: IkeSa): string {
  const encr = sa['encr-alg'] ? `${sa['encr-alg']}${sa['encr-keysize'] ? `-${sa['encr-keysize']}` : ''}` : null;
  return [encr, sa['integ-alg'], sa['prf-alg'], sa['dh-group']].filter((s) => s).join('/');
}

export function addressOf(host: string | undefined, port: number | undefined): string | null {
  if (!host) return null;
  if (port === undefined) return host;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Bytes of the CHILD SAs listed now, by CHILD SA unique id. */
export function childBytes(sa: IkeSa): Map<number, { in: number; out: number }> {
  const out = new Map<number, { in: number; out: number }>();
  for (const child of Object.values(sa['child-sas'] ?? {}))
    out.set(child.uniqueid, { in: child['bytes-in'] ?? 0, out: child['bytes-out'] ?? 0 });
  return out;
}

/**
 * The session report of one IKE SA. `connectedAt` comes from the caller (first sighting, kept stable:
 * charon says "established N seconds ago", which drifts by a second between reads).
 */
export function reportOf(sa: IkeSa, connectedAt: number, bytes: { received: number; sent: number }): SessionReport {
  const vips = sa['remote-vips'] ?? [];
  return {
    ref: ikeSessionRef(sa),
    userName: userNameOf(sa),
    commonName: sa['remote-id'] ?? null,
    clientAddress: addressOf(sa['remote-host'], sa['remote-port']),
    virtualAddress: vips.find((v) => !v.includes(':')) ?? null,
    virtualAddress6: vips.find((v) => v.includes(':')) ?? null,
    connectedAt,
    bytesReceived: bytes.received,
    bytesSent: bytes.sent,
    clientVersion: `IKEv${sa.version ?? '2'} ${ikeAlgorithms(sa)}`.trim(),
    clientPlatform: null,
  };
}
