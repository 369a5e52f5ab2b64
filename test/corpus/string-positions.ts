/**
 * Every place in the schema where a client can put a string: each argument and input-object field
 * (at any depth, list items included) of every root field, with a request that puts a given value
 * there and the least valid values everywhere else. Generated from the schema itself, so a new
 * argument is covered (and checked by the input gate) the moment it exists.
 */
import {
  getNamedType,
  getNullableType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

export interface StringPosition {
  operation: 'query' | 'mutation' | 'subscription';
  /** The root field, e.g. `disconnectSession`. */
  field: string;
  /** As the gate names it: `input.filter.userName`, `input.scopes[0]`. */
  path: string;
  /** The gate's rule key for it (api/input-gate.ts INPUT_RULES). */
  ruleKey: string;
  /** A document and variables that put `value` at this position. */
  request(value: string): { query: string; variables: Record<string, unknown> };
}

type Step = string | 0;

function isString(type: GraphQLInputType): boolean {
  const t = getNullableType(type);
  return isScalarType(t) && (t.name === 'String' || t.name === 'ID');
}

/** The least valid value of a type (required parts only). */
function minimal(type: GraphQLInputType): unknown {
  const t = getNullableType(type) as GraphQLInputType;
  if (isListType(t)) return [minimal(t.ofType as GraphQLInputType)];
  if (isInputObjectType(t)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(t.getFields())) if (isNonNullType(f.type) && f.defaultValue === undefined) out[f.name] = minimal(f.type);
    return out;
  }
  if (isEnumType(t)) return t.getValues()[0]!.value;
  if (isScalarType(t)) {
    if (t.name === 'Int' || t.name === 'Float') return 1;
    if (t.name === 'Boolean') return false;
    if (t.name === 'DateTime') return '2024-01-01T00:00:00Z';
    return 'sess_000000000000';
  }
  return null;
}

function withValue(type: GraphQLInputType, path: Step[], value: string): unknown {
  if (path.length === 0) return value;
  const t = getNullableType(type) as GraphQLInputType;
  const [head, ...rest] = path;
  if (isListType(t)) return [withValue(t.ofType as GraphQLInputType, rest, value)];
  if (isInputObjectType(t)) {
    const field = t.getFields()[head as string]!;
    return { ...(minimal(t) as Record<string, unknown>), [field.name]: withValue(field.type, rest, value) };
  }
  throw new Error(`no position ${String(head)} in ${String(type)}`);
}

/** Paths to every string inside a type, with the rule key of each. */
function paths(type: GraphQLInputType, key: string, seen: Set<string>): { steps: Step[]; key: string }[] {
  const t = getNullableType(type) as GraphQLInputType;
  if (isListType(t)) return paths(t.ofType as GraphQLInputType, key, seen).map((p) => ({ steps: [0, ...p.steps], key: p.key }));
  if (isInputObjectType(t)) {
    if (seen.has(t.name)) return [];
    const out: { steps: Step[]; key: string }[] = [];
    for (const f of Object.values(t.getFields())) {
      for (const p of paths(f.type, `${t.name}.${f.name}`, new Set([...seen, t.name]))) out.push({ steps: [f.name, ...p.steps], key: p.key });
    }
    return out;
  }
  return isString(t) ? [{ steps: [], key }] : [];
}

function pathText(arg: string, steps: Step[]): string {
  return steps.reduce<string>((text, s) => (s === 0 ? `${text}[0]` : `${text}.${s}`), arg);
}

export function stringPositions(schema: GraphQLSchema): StringPosition[] {
  const out: StringPosition[] = [];
  const roots = [['query', schema.getQueryType()], ['mutation', schema.getMutationType()], ['subscription', schema.getSubscriptionType()]] as const;
  for (const [operation, root] of roots) {
    if (!root) continue;
    for (const field of Object.values(root.getFields())) {
      const selection = isCompositeType(getNamedType(field.type)) ? ' { __typename }' : '';
      for (const arg of field.args as readonly GraphQLArgument[]) {
        for (const p of paths(arg.type, `${root.name}.${field.name}.${arg.name}`, new Set())) {
          out.push({
            operation,
            field: field.name,
            path: pathText(arg.name, p.steps),
            ruleKey: p.key,
            request(value) {
              const given = field.args.filter((a) => a === arg || (isNonNullType(a.type) && a.defaultValue === undefined));
              const variables = Object.fromEntries(given.map((a, i) => [`v${i}`, a === arg ? withValue(a.type, p.steps, value) : minimal(a.type)]));
              const declared = given.map((a, i) => `$v${i}: ${String(a.type)}`).join(', ');
              const passed = given.map((a, i) => `${a.name}: $v${i}`).join(', ');
              return { query: `${operation} (${declared}) { ${field.name}(${passed})${selection} }`, variables };
            },
          });
        }
      }
    }
  }
  return out;
}
