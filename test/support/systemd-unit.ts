/**
 * A systemd unit as systemd reads what our units use: sections of `Key=Value` lines (a key may
 * repeat), `EnvironmentFile=` files of `KEY=VALUE` lines, command lines split on spaces with quotes,
 * `$MAINPID`, and time spans. Enough to run a unit's command exactly as systemd would start it, where
 * systemd itself is not PID 1.
 */
import { readFileSync } from 'node:fs';

export class SystemdUnit {
  private readonly entries: Array<{ section: string; key: string; value: string }> = [];

  constructor(
    readonly path: string,
    text = readFileSync(path, 'utf8'),
  ) {
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const header = /^\[(.+)\]$/.exec(line);
      if (header) {
        section = header[1]!;
        continue;
      }
      const eq = line.indexOf('=');
      if (eq > 0) this.entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
    }
  }

  /** Every value of `key` in `section`, in order. */
  all(section: string, key: string): string[] {
    return this.entries.filter((e) => e.section === section && e.key === key).map((e) => e.value);
  }

  /** The value of `key` in `section` (the last one wins, as in systemd); throws when absent. */
  get(section: string, key: string): string {
    const values = this.all(section, key);
    if (values.length === 0) throw new Error(`${this.path}: no ${key}= in [${section}]`);
    return values.at(-1)!;
  }
}

/** `Environment=` values (`A=1 "B=two words"`) as pairs. */
export function environmentAssignments(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of splitCommandLine(value)) {
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

/** An `EnvironmentFile=`: `KEY=VALUE` lines, `#` and `;` comments, values optionally quoted. */
export function environmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/** A command line as systemd splits it: on whitespace, with "double" or 'single' quoted words. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** A systemd time span (`30`, `30s`, `1min`, `1min 30s`) in milliseconds. */
export function timespanMs(value: string): number {
  const units: Record<string, number> = { '': 1000, s: 1000, sec: 1000, ms: 1, m: 60_000, min: 60_000 };
  let total = 0;
  for (const m of value.matchAll(/(\d+)\s*([a-z]*)/g)) {
    const unit = units[m[2]!];
    if (unit === undefined) throw new Error(`time span unit not understood: ${value}`);
    total += Number(m[1]) * unit;
  }
  return total;
}
