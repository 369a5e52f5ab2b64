/**
 * The refusals of ocserv's connect-script (`bin/switchboard-ocserv-connect`), which appends one line
 * per refused tunnel to `<block file>.denied`: `<time, s> <client address> <user name>`. The agent
 * reads what was appended since its last read and reports each as `auth-denied`, as the OpenVPN
 * adapter does for the reconnects it refuses itself. Lines older than the agent are not reported; the
 * file is emptied once it passes a size, so it cannot grow without bound.
 */
import { closeSync, openSync, readSync, statSync, truncateSync } from 'node:fs';

export interface Denial {
  userName: string;
  clientAddress: string | null;
  at: number;
}

const MAX_BYTES = 1024 * 1024;

export function parseDenialLine(line: string): Denial | null {
  const m = /^(\d{1,12}) (\S+) (.+)$/.exec(line);
  if (!m) return null;
  return { at: Number(m[1]) * 1000, clientAddress: m[2] === '-' ? null : m[2]!, userName: m[3]! };
}

export class DenialLog {
  private offset: number;
  private partial = '';

  constructor(readonly path: string) {
    this.offset = sizeOf(path);
  }

  /** The refusals appended since the last read. */
  read(): Denial[] {
    const size = sizeOf(this.path);
    if (size < this.offset) this.offset = 0; // emptied or replaced
    if (size === this.offset) return [];
    const fd = openSync(this.path, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(Math.min(size - this.offset, MAX_BYTES));
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      text = this.partial + buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.offset >= MAX_BYTES) {
      truncateSync(this.path, 0);
      this.offset = 0;
      this.partial = '';
    }
    return lines.map(parseDenialLine).filter((d): d is Denial => d !== null);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
