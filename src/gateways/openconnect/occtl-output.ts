/**
 * Parses what `occtl` prints (ocserv 1.1.x): the JSON of `-j show users` / `-j show id N` /
 * `-j show status`, and the text lines of `show events`. Nothing that crosses the process boundary is
 * trusted: every JSON value goes through a zod schema, and a reply that does not match is an error,
 * never an empty listing (an empty listing would end every session).
 *
 * Facts this relies on (read from occtl's source and checked against ocserv 1.1.6):
 * - `ID` is the worker's process id. `Full session` is ocserv's *safe id* of the session cookie (a
 *   hash, shown by occtl precisely because it grants nothing); it is the same for every tunnel one
 *   cookie opens.
 * - `Connected at` is local time to the minute; `_Connected at` is the age, exact to the second only
 *   below one hour (`  42s`, ` 5m:03s`, ` 2h:07m`, ` 3days`).
 * - `RX`/`TX` are the tun device's counters, read by occtl over netlink: run occtl in ocserv's
 *   network namespace, or they read 0.
 * - JSON mode loses whether an event was a connect or a disconnect, so events are read as text.
 * - JSON mode loses non-ASCII text: occtl escapes each byte of a UTF-8 character as `\u00ff`, so
 *   `jürgen` and `jörgen` both read `jÿÿrgen` (ASCII, control characters, quotes and backslashes are
 *   escaped correctly). A user or group name with a `ÿ` in it is read again from the text of
 *   `show id N`, which prints the bytes as they are (see `namesFromText`).
 */
import { z } from 'zod';

/** ocserv prints `(none)` for a user without a group. */
const NO_GROUP = '(none)';

const digits = z
  .string()
  .regex(/^\d{1,20}$/)
  .transform(Number)
  .pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER));
const bounded = (max: number) => z.string().max(max);

/** One user row of `-j show users` (the keys Switchboard reads; occtl prints many more). */
const userRowSchema = z.object({
  ID: z
    .number()
    .int()
    .positive()
    .max(2 ** 31),
  Username: bounded(512),
  Groupname: bounded(512).optional(),
  State: bounded(64),
  Device: bounded(64).optional(),
  'Remote IP': bounded(128).optional(),
  IPv4: bounded(64).optional(),
  IPv6: bounded(128).optional(),
  'User-Agent': bounded(256).optional(),
  Hostname: bounded(256).optional(),
  RX: digits.optional(),
  TX: digits.optional(),
  'Connected at': bounded(64).optional(),
  '_Connected at': bounded(64).optional(),
  'Full session': bounded(64).regex(/^[A-Za-z0-9+/=._-]{6,64}$/, 'Full session must be a safe id'),
});

const userListSchema = z.array(userRowSchema).max(1_000_000);

const statusSchema = z.object({
  Status: bounded(32),
  'Server PID': z.number().int().positive(),
  raw_up_since: z.number().int().positive().optional(),
});

/** A user (a tunnel) as ocserv reports it, in Switchboard's terms. */
export interface OcservUser {
  /** The worker's process id (`ID`): reused by the OS, so never a session id on its own. */
  id: number;
  userName: string;
  groupName: string | null;
  /** `connected`, or a state before it (`pre-auth`, `authenticating`). */
  state: string;
  device: string | null;
  remoteIp: string | null;
  ipv4: string | null;
  ipv6: string | null;
  userAgent: string | null;
  hostname: string | null;
  /** Server's view: bytes received from the client / sent to it. */
  bytesReceived: number;
  bytesSent: number;
  /** ms since the epoch, as exact as occtl's age field allows (see `connectedAtOf`). */
  connectedAt: number;
  /** ocserv's safe id of the session cookie (`Full session`). */
  safeId: string;
}

export interface OcservStatus {
  serverPid: number;
  /** When this ocserv instance started, ms since the epoch (null from versions that do not print it). */
  startedAt: number | null;
}

export class OcctlOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcctlOutputError';
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new OcctlOutputError(`occtl ${what}: not JSON (${(e as Error).message.slice(0, 100)})`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new OcctlOutputError(
      `occtl ${what}: unexpected shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

const orNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** `-j show users` or `-j show id N`: every user row (an empty array when there is none). */
export function parseUsers(text: string, now = Date.now()): OcservUser[] {
  // occtl prints the key "Routes" twice; JSON.parse keeps the last, and Switchboard does not read it.
  const rows = check(userListSchema, parseJson(text, 'show users'), 'show users');
  return rows.map((row) => ({
    id: row.ID,
    userName: row.Username,
    groupName: row.Groupname === undefined || row.Groupname === NO_GROUP ? null : row.Groupname,
    state: row.State,
    device: orNull(row.Device),
    remoteIp: orNull(row['Remote IP']),
    ipv4: orNull(row.IPv4),
    ipv6: orNull(row.IPv6),
    userAgent: orNull(row['User-Agent']),
    hostname: orNull(row.Hostname),
    bytesReceived: row.RX ?? 0,
    bytesSent: row.TX ?? 0,
    connectedAt: connectedAtOf(row['_Connected at'], row['Connected at'], now),
    safeId: row['Full session'],
  }));
}

/** What occtl's JSON makes of `text`: every byte of a non-ASCII character becomes U+00FF. */
export function asOcctlJsonText(text: string): string {
  let out = '';
  for (const ch of text) out += ch.charCodeAt(0) < 0x80 ? ch : '\u00ff'.repeat(Buffer.byteLength(ch));
  return out;
}

/** The JSON row's user or group name may have lost characters (it holds the marker occtl writes for them). */
export function namesLost(user: Pick<OcservUser, 'userName' | 'groupName'>): boolean {
  return user.userName.includes('\u00ff') || (user.groupName ?? '').includes('\u00ff');
}

const TEXT_NAMES = '\tUsername: ';
const TEXT_GROUP = '   Groupname: ';

/**
 * The user and group names of `user` (a row of the JSON listing) as `show id N` prints them in text
 * (`\tUsername: NAME   Groupname: GROUP`), which keeps non-ASCII characters. A name may itself hold
 * `   Groupname: `, so every split is tried, and only one that gives back the JSON row's names (with
 * their lost bytes) is taken. Anything else (another worker under that id by now, a name that cannot
 * be told) is an OcctlOutputError: a session is never listed under a name ocserv does not have.
 */
export function namesFromText(text: string, user: OcservUser): OcservUser {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const idLine = lines.find((l) => l.startsWith('\tID: '));
  const nameLine = lines.find((l) => l.startsWith(TEXT_NAMES));
  if (idLine?.slice('\tID: '.length).trim() !== String(user.id) || nameLine === undefined)
    throw new OcctlOutputError(`occtl show id ${user.id}: no user of that id with its name`);
  const rest = nameLine.slice(TEXT_NAMES.length);
  const jsonGroup = user.groupName ?? NO_GROUP;
  const found: { userName: string; group: string }[] = [];
  for (let at = rest.indexOf(TEXT_GROUP); at >= 0; at = rest.indexOf(TEXT_GROUP, at + 1)) {
    const userName = rest.slice(0, at);
    const group = rest.slice(at + TEXT_GROUP.length);
    if (asOcctlJsonText(userName) === user.userName && asOcctlJsonText(group) === jsonGroup)
      found.push({ userName, group });
  }
  if (found.length !== 1)
    throw new OcctlOutputError(
      `occtl show id ${user.id}: the user name ${found.length === 0 ? 'does not match' : 'is ambiguous'} between its JSON and its text`,
    );
  const [{ userName, group }] = found as [{ userName: string; group: string }];
  return { ...user, userName, groupName: group === NO_GROUP ? null : group };
}

/** `-j show status`. */
export function parseStatus(text: string): OcservStatus {
  const s = check(statusSchema, parseJson(text, 'show status'), 'show status');
  return { serverPid: s['Server PID'], startedAt: s.raw_up_since === undefined ? null : s.raw_up_since * 1000 };
}

/**
 * The age occtl prints (`print_time_ival7`) in seconds, and how exact it is: `   42s` and
 * ` 5m:03s` to the second, ` 2h:07m` to the minute, ` 3days` to the day. null when unreadable
 * (`   ?   ` after a clock step).
 */
export function parseAge(text: string): { seconds: number; precision: number } | null {
  const t = text.trim();
  let m = /^(\d+)s$/.exec(t);
  if (m) return { seconds: Number(m[1]), precision: 1 };
  m = /^(\d+)m:(\d{2})s$/.exec(t);
  if (m) return { seconds: Number(m[1]) * 60 + Number(m[2]), precision: 1 };
  m = /^(\d+)h:(\d{2})m$/.exec(t);
  if (m) return { seconds: Number(m[1]) * 3600 + Number(m[2]) * 60, precision: 60 };
  m = /^(\d+)days$/.exec(t);
  if (m) return { seconds: Number(m[1]) * 86_400, precision: 86_400 };
  return null;
}

/**
 * When the tunnel started: from the age where it is exact to the second; otherwise from the local
 * `YYYY-MM-DD HH:MM` (occtl and this process share the local time zone), else the age; else now.
 */
export function connectedAtOf(age: string | undefined, local: string | undefined, now: number): number {
  const parsedAge = age === undefined ? null : parseAge(age);
  if (parsedAge?.precision === 1) return now - parsedAge.seconds * 1000;
  const m = local === undefined ? null : /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/.exec(local.trim());
  if (m) {
    const at = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5])).getTime();
    if (Number.isFinite(at) && at <= now) return at;
  }
  return parsedAge ? now - parsedAge.seconds * 1000 : now;
}

/** One line of `show events` that Switchboard acts on. */
export type OcservEvent =
  | { kind: 'connected'; id: number; userName: string }
  | { kind: 'disconnected'; id: number; userName: string; reason: string };

const CONNECTED = /^[^:]*: connected user '(.*)' \((\d{1,10})\) from \S* with IP \S*$/;
const DISCONNECTED =
  /^[^:]*: disconnect user '(.*)' \((\d{1,10})\) from \S* with IP \S* \(reason: (.*), time: [^)]*\)$/;

/** A line of `show events`; null for anything else (the initial table, the "Press 'q'" hint, blanks). */
export function parseEventLine(line: string): OcservEvent | null {
  const text = line.replace(/\r$/, '');
  if (text.length > 2048) return null;
  let m = CONNECTED.exec(text);
  if (m) return { kind: 'connected', userName: m[1]!, id: Number(m[2]) };
  m = DISCONNECTED.exec(text);
  if (m) return { kind: 'disconnected', userName: m[1]!, id: Number(m[2]), reason: m[3]! };
  return null;
}
