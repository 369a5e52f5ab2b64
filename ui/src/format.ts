/** Numbers and times as operators read them. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`;
}

/** "3 min", "2 h 5 min", "4 d 1 h": how long since `iso`, at `now`. */
export function since(iso: string, now: number): string {
  return duration(now - Date.parse(iso));
}

/** "3 min", "2 h 5 min", "4 d 1 h": how long until `iso`, at `now` ("0 s" once it has passed). */
export function until(iso: string, now: number): string {
  return duration(Date.parse(iso) - now);
}

/** A span of milliseconds in the largest two units, rounded down; never negative. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Local date and time, unambiguous: "2026-11-29 15:34:25". */
export function absolute(iso: string | null): string {
  if (iso === null) return '—';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The browser's time zone as a short name ("UTC", "CET", "GMT+1"), said next to local times. */
export function zoneName(at: Date = new Date()): string {
  return (
    new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' })
      .formatToParts(at)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'local time'
  );
}

/** Local date and time with the zone: "2026-11-29 15:34:25 CET". */
export function absoluteWithZone(iso: string | null): string {
  return iso === null ? '—' : `${absolute(iso)} ${zoneName(new Date(iso))}`;
}
