/**
 * The disconnect dialog's block durations: a few presets and a custom one, and the "until hh:mm
 * (zone)" preview said in the operator's local time, with the day named when it is not today (a
 * block of 1 h set at 23:30 ends at 00:30 *tomorrow*). Pure, so it is tested with a fixed clock and zone.
 */

/** The presets offered, in seconds (the API's `blockSeconds`). */
export const BLOCK_PRESETS: readonly { id: string; label: string; seconds: number }[] = [
  { id: '15m', label: '15 min', seconds: 15 * 60 },
  { id: '1h', label: '1 h', seconds: 60 * 60 },
  { id: '24h', label: '24 h', seconds: 24 * 60 * 60 },
];

/** Units of the custom duration. */
export const CUSTOM_UNITS: readonly { id: 'min' | 'h' | 'd'; label: string; seconds: number }[] = [
  { id: 'min', label: 'minutes', seconds: 60 },
  { id: 'h', label: 'hours', seconds: 60 * 60 },
  { id: 'd', label: 'days', seconds: 24 * 60 * 60 },
];

/** The API's upper bound on `blockSeconds` (one year). */
export const MAX_BLOCK_SECONDS = 31_536_000;

/** What the operator picked: no block, a preset, or a number of minutes, hours or days. */
export type BlockChoice =
  { kind: 'none' } | { kind: 'preset'; id: string } | { kind: 'custom'; amount: string; unit: 'min' | 'h' | 'd' };

/** The choice in seconds; null for no block; an error text for a custom value the API would refuse. */
export function blockSecondsOf(choice: BlockChoice): number | null | { error: string } {
  if (choice.kind === 'none') return null;
  if (choice.kind === 'preset') return BLOCK_PRESETS.find((p) => p.id === choice.id)?.seconds ?? null;
  const amount = Number(choice.amount);
  if (choice.amount.trim() === '' || !Number.isFinite(amount) || amount <= 0)
    return { error: 'Enter how long the block lasts (a number above 0).' };
  const unit = CUSTOM_UNITS.find((u) => u.id === choice.unit)!;
  const seconds = Math.round(amount * unit.seconds);
  if (seconds < 1) return { error: 'A block lasts at least one second.' };
  if (seconds > MAX_BLOCK_SECONDS) return { error: 'A block lasts at most 365 days.' };
  return seconds;
}

/** The calendar day of `at` in `timeZone` as a comparable number (days since 1970 of that local date). */
function localDay(at: Date, timeZone: string | undefined): number {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(at)
    .reduce<Record<string, string>>((o, p) => ({ ...o, [p.type]: p.value }), {});
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) / 86_400_000;
}

/**
 * "until 00:30 CET tomorrow (Mon 7 Dec)": when a block of `seconds` set at `now` ends, in `timeZone`
 * (the browser's own when undefined). The day is compared in that zone, so midnight and DST are right.
 */
export function untilPreview(now: number, seconds: number, timeZone?: string): string {
  const end = new Date(now + seconds * 1000);
  const time = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).format(end);
  const days = localDay(end, timeZone) - localDay(new Date(now), timeZone);
  const date = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    ...(days > 180 ? { year: 'numeric' } : {}),
  }).format(end);
  const day = days === 0 ? 'today' : days === 1 ? `tomorrow (${date})` : `on ${date}`;
  return `until ${time} ${day}`;
}
