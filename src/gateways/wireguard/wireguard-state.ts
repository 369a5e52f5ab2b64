/**
 * What a WireGuard agent keeps on disk, because the interface cannot keep it and it must outlive a
 * restart of the agent (or of single-host Switchboard):
 * - held peers: those a disconnect with `blockSeconds` removed, each with its full configuration
 *   (preshared key included: the file is written with mode 0600) and its user, so the block is kept
 *   and the peer restored exactly when it ends;
 * - each online session's ref, so a restarted agent reports the same sessions, not new ones, for as
 *   long as the interface instance is the same.
 * Written whole to a temporary file and renamed over the old one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

const heldPeerSchema = z.object({
  publicKey: z.string(),
  userName: z.string(),
  until: z.number(),
  /** When this agent held it: a block list from the control plane that lacks it yet does not lift it at once. */
  heldAt: z.number(),
  presharedKey: z.string().nullable(),
  allowedIps: z.array(z.string()),
  persistentKeepalive: z.number(),
});
export type HeldPeer = z.infer<typeof heldPeerSchema>;

const stateSchema = z.object({
  version: z.literal(1),
  /** The interface instance the sessions belong to (see WireGuardAdapter.instanceOf). */
  instance: z.string().nullable(),
  sessions: z.record(z.string(), z.object({ ref: z.string(), connectedAt: z.number() })),
  held: z.array(heldPeerSchema),
});
export type WireGuardState = z.infer<typeof stateSchema>;

export function emptyState(): WireGuardState {
  return { version: 1, instance: null, sessions: {}, held: [] };
}

/** The state in `path`; an empty one when there is none yet. A file that does not parse is an error: held peers must not be forgotten silently. */
export function readState(path: string): WireGuardState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw e;
  }
  return stateSchema.parse(JSON.parse(text));
}

export function writeState(path: string, state: WireGuardState): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
