/**
 * Parses the reply to `status 3` (tab-separated; `status 2`, comma-separated, works too). Columns are
 * located by the names on the `HEADER CLIENT_LIST` line, not by position, so a daemon that adds or
 * moves a column does not break us.
 */

/** One connected client as `status 3` shows it. */
export interface StatusRow {
  commonName: string;
  /** `ip:port` the client connects from. */
  realAddress: string;
  virtualAddress: string | null;
  virtualAddress6: string | null;
  /** Server's view: bytes received from the client. */
  bytesReceived: number;
  /** Server's view: bytes sent to the client. */
  bytesSent: number;
  /** Seconds since the epoch. */
  connectedSince: number;
  /** `null` when the daemon shows `UNDEF` (the client sent no username). */
  username: string | null;
  clientId: number;
}

export interface StatusReport {
  /** The daemon's clock when it wrote the report, seconds since the epoch. */
  time: number | null;
  /** Only rows that are sessions: clients still being authenticated have no virtual address yet. */
  rows: StatusRow[];
  /**
   * The Client ID of every CLIENT_LIST row, with a virtual address or not. A client the daemon has
   * just announced (`>CLIENT:ESTABLISHED`) can be listed a moment without its address: it is there.
   */
  listedClientIds: Set<number>;
}

const COLUMNS = {
  commonName: 'Common Name',
  realAddress: 'Real Address',
  virtualAddress: 'Virtual Address',
  virtualAddress6: 'Virtual IPv6 Address',
  bytesReceived: 'Bytes Received',
  bytesSent: 'Bytes Sent',
  connectedSince: 'Connected Since (time_t)',
  username: 'Username',
  clientId: 'Client ID',
} as const;

export class StatusParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatusParseError';
  }
}

/** `lines`: the reply without the final `END`. */
export function parseStatus(lines: readonly string[]): StatusReport {
  let header: Map<string, number> | null = null;
  // Rows are split with their header's separator: a tab inside a `status 2` name must not split it.
  let headerSep: string | null = null;
  let time: number | null = null;
  const rows: StatusRow[] = [];
  const listedClientIds = new Set<number>();
  for (const line of lines) {
    const sep: string =
      headerSep !== null && line.startsWith(`CLIENT_LIST${headerSep}`) ? headerSep : line.includes('\t') ? '\t' : ',';
    const fields = line.split(sep);
    const kind = fields[0];
    if (kind === 'TIME') {
      const t = Number(fields[2]);
      time = Number.isSafeInteger(t) ? t : null;
    } else if (kind === 'HEADER' && fields[1] === 'CLIENT_LIST') {
      // Header names count from 0 after `HEADER`; data fields count from 0 at `CLIENT_LIST`: the same index.
      header = new Map(fields.slice(1).map((name, i) => [name, i]));
      headerSep = sep;
      for (const name of [COLUMNS.commonName, COLUMNS.realAddress, COLUMNS.virtualAddress, COLUMNS.clientId]) {
        if (!header.has(name)) throw new StatusParseError(`status header has no "${name}" column`);
      }
    } else if (kind === 'CLIENT_LIST') {
      if (!header) throw new StatusParseError('CLIENT_LIST row before its HEADER');
      const aligned = alignFields(header, fields, sep);
      const cid = aligned[header.get(COLUMNS.clientId)!] ?? '';
      if (/^\d{1,15}$/.test(cid)) listedClientIds.add(Number(cid));
      const row = toRow(header, aligned);
      if (row) rows.push(row);
    }
  }
  return { time, rows, listedClientIds };
}

/** Columns whose text comes from a certificate or from the client, and so may hold the separator. */
const FREE_TEXT = [COLUMNS.commonName, COLUMNS.username];

/** What the other columns look like; used to tell where a free-text column's extra separators were. */
const SHAPES: Record<string, RegExp> = {
  [COLUMNS.realAddress]: /^\S*:\d+$/,
  [COLUMNS.virtualAddress]: /^[0-9.]*$/,
  [COLUMNS.virtualAddress6]: /^[0-9a-fA-F:]*$/,
  [COLUMNS.bytesReceived]: /^\d*$/,
  [COLUMNS.bytesSent]: /^\d*$/,
  [COLUMNS.connectedSince]: /^\d*$/,
  [COLUMNS.clientId]: /^\d+$/,
  'Peer ID': /^\d*$/,
};

/**
 * One field per header column. A row with more fields than its header has a common name or username
 * that held the separator (a client picks its own username): every way of giving the extra fields
 * back to those columns is tried, and only a single one that leaves every other column well-shaped
 * is accepted. Reading the Client ID from the wrong field would disconnect someone else.
 */
function alignFields(header: Map<string, number>, fields: string[], sep: string): string[] {
  const width = header.size;
  const extra = fields.length - width;
  if (extra <= 0) return fields;
  const textIndexes = FREE_TEXT.map((name) => header.get(name))
    .filter((i): i is number => i !== undefined)
    .sort((a, b) => a - b);
  const candidates: string[][] = [];
  for (const shares of distributions(extra, textIndexes.length)) {
    const aligned: string[] = [];
    let p = 0;
    for (let c = 0; c < width; c++) {
      const k = textIndexes.indexOf(c);
      const take = k < 0 ? 1 : 1 + shares[k]!;
      aligned.push(fields.slice(p, p + take).join(sep));
      p += take;
    }
    const wellShaped = [...header].every(
      ([name, i]) => SHAPES[name] === undefined || SHAPES[name].test(aligned[i] ?? ''),
    );
    if (wellShaped) candidates.push(aligned);
  }
  if (candidates.length !== 1) {
    throw new StatusParseError(
      `status row has ${extra} field(s) more than its header and cannot be read unambiguously (client ids ${[...new Set(candidates.map((c) => c[header.get(COLUMNS.clientId)!]))].join(', ') || 'none'})`,
    );
  }
  return candidates[0]!;
}

/** Every way to share `total` among `parts` (each ≥ 0). */
function distributions(total: number, parts: number): number[][] {
  if (parts === 0) return [];
  if (parts === 1) return [[total]];
  const out: number[][] = [];
  for (let first = 0; first <= total; first++)
    for (const rest of distributions(total - first, parts - 1)) out.push([first, ...rest]);
  return out;
}

function toRow(header: Map<string, number>, fields: string[]): StatusRow | null {
  const get = (name: string): string => {
    const i = header.get(name);
    return i === undefined ? '' : (fields[i] ?? '');
  };
  const virtualAddress = get(COLUMNS.virtualAddress) || null;
  const virtualAddress6 = get(COLUMNS.virtualAddress6) || null;
  if (!virtualAddress && !virtualAddress6) return null;
  const clientId = Number(get(COLUMNS.clientId));
  if (get(COLUMNS.clientId) === '' || !Number.isSafeInteger(clientId))
    throw new StatusParseError(`bad Client ID in status row: ${fields.join(' ')}`);
  const username = get(COLUMNS.username);
  return {
    commonName: get(COLUMNS.commonName),
    realAddress: get(COLUMNS.realAddress),
    virtualAddress,
    virtualAddress6,
    bytesReceived: toCount(get(COLUMNS.bytesReceived)),
    bytesSent: toCount(get(COLUMNS.bytesSent)),
    connectedSince: toCount(get(COLUMNS.connectedSince)),
    username: username === '' || username === 'UNDEF' ? null : username,
    clientId,
  };
}

function toCount(text: string): number {
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
