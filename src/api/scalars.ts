/**
 * The DateTime scalar: domain times are milliseconds since the epoch; clients see ISO-8601 strings.
 */
import { GraphQLError, Kind, type GraphQLScalarType, type ValueNode } from 'graphql';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

function parseIso(text: unknown): number {
  const ms = typeof text === 'string' && ISO_8601.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new GraphQLError('DateTime must be an ISO-8601 date-time with a Z or an offset, e.g. 2024-05-01T12:00:00Z', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
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
