/**
 * The DateTime scalar: domain times are milliseconds since the epoch; clients see ISO-8601 strings.
 */
import { GraphQLError, Kind, type GraphQLScalarType, type ValueNode } from 'graphql';

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function refuse(message: string): never {
  throw new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Each field is checked before Date.parse sees the text: Date.parse rolls an impossible day forward
 * (2024-02-31 would be March 2) and answers other out-of-range fields with NaN, which says nothing.
 * 24:00 (ISO-8601's end of a day) is the next day's 00:00; a leap second (:60) is refused.
 */
function parseIso(text: unknown): number {
  const m = typeof text === 'string' ? ISO_8601.exec(text) : null;
  if (m === null) {
    refuse('DateTime must be an ISO-8601 date-time with a Z or an offset, e.g. 2024-05-01T12:00:00Z');
  }
  const field = (i: number) => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second] = [field(1), field(2), field(3), field(4), field(5), field(6)];
  const [offsetHour, offsetMinute] = [field(8), field(9)];
  const fraction = m[7] ?? '';
  const value = m[0];
  if (month < 1 || month > 12) refuse(`DateTime ${value}: month ${m[2]} does not exist (01 to 12)`);
  const last = daysIn(year, month);
  if (day < 1 || day > last) {
    refuse(`DateTime ${value}: day ${m[3]} does not exist, ${MONTHS[month - 1]} ${m[1]} has ${last} days`);
  }
  if (hour === 24) {
    if (minute !== 0 || second !== 0 || /[1-9]/.test(fraction)) {
      refuse(`DateTime ${value}: hour 24 is only 24:00:00 (the end of the day)`);
    }
  } else if (hour > 23) refuse(`DateTime ${value}: hour ${m[4]} does not exist (00 to 23)`);
  if (minute > 59) refuse(`DateTime ${value}: minute ${m[5]} does not exist (00 to 59)`);
  if (second === 60) refuse(`DateTime ${value}: leap seconds (:60) are not accepted; use :59`);
  if (second > 59) refuse(`DateTime ${value}: second ${m[6]} does not exist (00 to 59)`);
  if (offsetHour > 23 || offsetMinute > 59) refuse(`DateTime ${value}: the offset is not one (-23:59 to +23:59)`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) refuse(`DateTime ${value} is outside the range of instants Switchboard can represent`);
  return ms;
}

/**
 * Recently formatted instants. A page of sessions formats the same connectedAt values request after
 * request, and toISOString is a large share of a page's serialisation; cleared when full.
 */
const formatted = new Map<number, string>();
const FORMATTED_MAX = 4096;

export function formatDateTime(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new TypeError(`DateTime cannot represent ${String(value)}`);
  let text = formatted.get(value);
  if (text === undefined) {
    text = new Date(value).toISOString();
    if (formatted.size >= FORMATTED_MAX) formatted.clear();
    formatted.set(value, text);
  }
  return text;
}

/** Gives the DateTime scalar of a schema built from SDL its behaviour. */
export function implementDateTime(scalar: GraphQLScalarType): void {
  scalar.serialize = formatDateTime;
  scalar.parseValue = parseIso;
  scalar.parseLiteral = (node: ValueNode) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string', { nodes: node });
    return parseIso(node.value);
  };
}
