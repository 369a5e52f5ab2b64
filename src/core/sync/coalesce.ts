import type { GatewayReport } from '../reports.js';

type Snapshot = Extract<GatewayReport, { type: 'snapshot' }>;
type Heartbeat = Extract<GatewayReport, { type: 'heartbeat' }>;

/**
 * One gateway's queued reports (a batch, in order) without those a later report of the batch makes
 * redundant, so a replica that fell behind catches up with the gateway's newest state instead of
 * replaying every minute it missed (a backlog that grows faster than it drains never ends):
 * - A whole snapshot followed, later in the batch, by another whole snapshot of the same daemon run
 *   (same `daemonStartedAt`): the later one is the truth then, creating what it lists and ending what
 *   it lacks. The deltas between them stay, in order. Dropped only when nothing between them is a
 *   delta (or a link-down or reload report), or when `sameRun` says this replica applied a snapshot of that daemon run already: a
 *   snapshot that first tells of a restart must be applied before the deltas after it (a restarted
 *   daemon may hand a new client a ref an ended session held).
 * - A heartbeat directly followed by a heartbeat that says the same (link, responding, descriptor):
 *   both write the replica's clock of the moment, the later one last.
 * A session that only the dropped snapshot listed (it came and went between the two, and both its
 * deltas were lost) is not recorded, as one that comes and goes between two periodic snapshots is not.
 * Snapshots in parts are never dropped, nor anything else.
 */
export function coalesceReports(
  reports: GatewayReport[],
  sameRun: (gatewayId: string, daemonStartedAt: number | null) => boolean = () => false,
): GatewayReport[] {
  if (reports.length < 2) return reports;
  const keep = reports.map(() => true);
  // Walking backwards: the next whole snapshot after i, and whether a delta lies between.
  let later: Snapshot | null = null;
  let deltaSince = false;
  for (let i = reports.length - 1; i >= 0; i--) {
    const r = reports[i]!;
    if (r.type === 'snapshot' && r.part === undefined) {
      if (
        later &&
        r.daemonStartedAt !== null &&
        later.daemonStartedAt === r.daemonStartedAt &&
        (!deltaSince || sameRun(r.gatewayId, r.daemonStartedAt))
      ) {
        keep[i] = false;
        continue; // `later` stays the snapshot that speaks for this one
      }
      later = r;
      deltaSince = false;
    } else if (r.type === 'snapshot') {
      later = null; // a snapshot in parts: what it ends depends on every part arriving
    } else if (r.type === 'heartbeat') {
      const next = reports[i + 1];
      if (next?.type === 'heartbeat' && sameBeat(r, next)) keep[i] = false;
    } else if (r.type !== 'auth-denied') {
      deltaSince = true; // session.connected, session.disconnected, link-down, gateway.reload
    }
  }
  return keep.every(Boolean) ? reports : reports.filter((_, i) => keep[i]);
}

function sameBeat(a: Heartbeat, b: Heartbeat): boolean {
  return (
    a.linkUp === b.linkUp &&
    a.daemonResponding === b.daemonResponding &&
    JSON.stringify(a.gateway) === JSON.stringify(b.gateway)
  );
}
