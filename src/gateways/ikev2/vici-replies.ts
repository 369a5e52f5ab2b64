/** charon's answers to the VICI commands the adapter sends, checked with a schema before use. */
import { z } from 'zod';
import type { ViciMessage } from './vici-codec.js';

const statsSchema = z.object({ uptime: z.object({ since: z.string() }) });

/**
 * The daemon's start time from `stats` (`uptime.since`, e.g. `Dec 06 10:00:59 2026`, charon's local
 * time, 1 s resolution), in ms since the epoch; null when charon does not say or it does not parse.
 * Used only to tell a restarted charon from the one seen before.
 */
export function daemonStartedAtOf(stats: ViciMessage): number | null {
  const parsed = statsSchema.safeParse(stats);
  if (!parsed.success) return null;
  const at = Date.parse(parsed.data.uptime.since);
  return Number.isFinite(at) ? at : null;
}

const terminateSchema = z.object({
  success: z.enum(['yes', 'no']),
  matches: z.string().regex(/^\d+$/).transform(Number).optional(),
  terminated: z.string().regex(/^\d+$/).transform(Number).optional(),
  errmsg: z.string().optional(),
});

export type TerminateOutcome =
  { kind: 'terminated' } | { kind: 'not-found' } | { kind: 'unconfirmed'; message: string };

/**
 * `terminate`'s reply: `success yes` with `terminated` ≥ 1 is a confirmed delete; no match is an SA
 * already gone; anything else (charon's timeout waiting for the peer, an unreadable reply) is not a
 * confirmation.
 */
export function terminateOutcome(reply: ViciMessage): TerminateOutcome {
  const parsed = terminateSchema.safeParse(reply);
  if (!parsed.success) return { kind: 'unconfirmed', message: 'unreadable terminate reply' };
  const r = parsed.data;
  if (r.success === 'yes' && (r.terminated ?? 1) >= 1) return { kind: 'terminated' };
  if (r.matches === 0 || /no matching/i.test(r.errmsg ?? '')) return { kind: 'not-found' };
  return { kind: 'unconfirmed', message: r.errmsg ?? `matched ${r.matches ?? '?'}, terminated ${r.terminated ?? '?'}` };
}
