/**
 * The input gate: every string argument of every operation, at any depth of input objects and lists,
 * passes here after GraphQL coerced it (literals and variables alike) and before its resolver runs,
 * on every transport (HTTP, WebSocket, SSE) and whichever executor runs it (graphql-js or
 * graphql-jit: both call the field's own resolver). A refusal is `BAD_USER_INPUT` (`BAD_CURSOR` for a
 * cursor) naming the argument, before any scope check, store query or audit row: input that no store
 * could hold, or that could match nothing, never reaches one, so SQLite and PostgreSQL give the same
 * answers.
 *
 * Each string position has a rule (a length cap and what characters it may hold, see domain/text.ts);
 * each list, a cap on its items. The schema cannot be built with a string or list argument that has
 * no rule, so a new argument cannot slip past the gate.
 */
import {
  defaultFieldResolver,
  getNullableType,
  isInputObjectType,
  isListType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLInputField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { MAX_MESSAGE_CHARS, MAX_REASON_CHARS } from '../core/disconnect.js';
import { DomainError } from '../domain/errors.js';
import {
  MAX_CODE_CHARS,
  MAX_CURSOR_CHARS,
  MAX_ID_CHARS,
  MAX_IP_CHARS,
  MAX_REQUEST_ID_CHARS,
  MAX_TOKEN_NAME_CHARS,
  MAX_USER_NAME_CHARS,
  MAX_WEBHOOK_DESCRIPTION_CHARS,
  MAX_WEBHOOK_URL_CHARS,
} from '../domain/input-limits.js';
import { refusalText, refusedCharacter, type TextKind } from '../domain/text.js';

/** The rule of one argument or input field. Strings need `max` and `kind`; lists need `maxItems`. */
export interface InputRule {
  max?: number;
  kind?: TextKind;
  maxItems?: number;
  /** The code of a refusal (default BAD_USER_INPUT). */
  code?: 'BAD_USER_INPUT' | 'BAD_CURSOR';
}

const id: InputRule = { max: MAX_ID_CHARS, kind: 'line' };
/** Any name a gateway may report (the wire contract's bound and characters), so every one can be named. */
const userName: InputRule = { max: MAX_USER_NAME_CHARS, kind: 'reported' };
const code: InputRule = { max: MAX_CODE_CHARS, kind: 'line' };
const cursor: InputRule = { max: MAX_CURSOR_CHARS, kind: 'line', code: 'BAD_CURSOR' };
const reason: InputRule = { max: MAX_REASON_CHARS, kind: 'text' };
/** One line: OpenVPN hands it to the client on one line of its management protocol. */
const message: InputRule = { max: MAX_MESSAGE_CHARS, kind: 'line' };
const enumList: InputRule = { maxItems: 16 };

/**
 * Rules by position: `Type.field.argument` for an argument, `InputType.field` for a field of an input
 * object. Documented in docs/security.md ("The input gate").
 */
export const INPUT_RULES: Readonly<Record<string, InputRule>> = {
  'Query.onlineSessions.after': cursor,
  'Query.onlineSession.id': id,
  'Query.sessionHistory.after': cursor,
  'Query.auditEvents.after': cursor,
  'Query.webhookDeliveries.webhookId': id,
  'Mutation.disconnectBySessionId.onlineSessionId': id,
  'Mutation.revokeToken.id': id,
  'Mutation.deleteWebhook.id': id,
  'OnlineSessionFilter.userId': id,
  'OnlineSessionFilter.userName': userName,
  'OnlineSessionFilter.userNameContains': userName,
  'OnlineSessionFilter.address': { max: MAX_IP_CHARS, kind: 'line' },
  'OnlineSessionFilter.gatewayId': id,
  'OnlineSessionFilter.protocol': code,
  'OnlineSessionFilter.clientIp': { max: MAX_IP_CHARS, kind: 'line' },
  'SessionHistoryFilter.userName': userName,
  'SessionHistoryFilter.address': { max: MAX_IP_CHARS, kind: 'line' },
  'SessionHistoryFilter.gatewayId': id,
  'SessionHistoryFilter.sessionId': id,
  'DisconnectSessionInput.sessionId': id,
  'DisconnectSessionInput.reason': reason,
  'DisconnectSessionInput.message': message,
  'DisconnectSessionsInput.reason': reason,
  'DisconnectSessionsInput.message': message,
  'DisconnectSessionsInput.sessionIds': { maxItems: 500, max: MAX_ID_CHARS, kind: 'line' },
  'AuditEventFilter.action': code,
  'AuditEventFilter.actorTokenId': id,
  'AuditEventFilter.requestId': { max: MAX_REQUEST_ID_CHARS, kind: 'line' },
  'AuditEventFilter.targetSessionId': id,
  'AuditEventFilter.targetUserName': userName,
  'AuditEventFilter.targetGatewayId': id,
  'CreateTokenInput.name': { max: MAX_TOKEN_NAME_CHARS, kind: 'name' },
  'CreateTokenInput.scopes': { maxItems: 16, max: MAX_CODE_CHARS, kind: 'line' },
  'CreateTokenInput.expiresIn': code,
  'CreateWebhookInput.url': { max: MAX_WEBHOOK_URL_CHARS, kind: 'line' },
  'CreateWebhookInput.events': enumList,
  'CreateWebhookInput.description': { max: MAX_WEBHOOK_DESCRIPTION_CHARS, kind: 'name' },
  'SessionEventFilter.gatewayId': id,
  'SessionEventFilter.userName': userName,
  'SessionEventFilter.types': enumList,
  'BlockFilter.gatewayId': id,
  'BlockFilter.userName': userName,
  'LiftBlockInput.gatewayId': id,
  'LiftBlockInput.userName': userName,
  'LiftBlockInput.reason': reason,
};

/** Checks one coerced value at `path` (for messages: `input.filter.userName`, `input.scopes[2]`). */
type Check = (value: unknown, path: string, field: string) => void;

function refuse(rule: InputRule, field: string, path: string, text: string): never {
  throw new DomainError(rule.code ?? 'BAD_USER_INPUT', `Argument ${path} of ${field} ${text}`);
}

function isStringScalar(type: GraphQLInputType): boolean {
  return isScalarType(type) && (type.name === 'String' || type.name === 'ID');
}

/** What building the checks of one schema shares: the rules, the positions without one, input types done. */
interface Build {
  rules: Readonly<Record<string, InputRule>>;
  missing: string[];
  /** Rules that matched a position: any other rule is a typo or a left-over, refused too. */
  used: Set<string>;
  objects: Map<string, Check | null>;
}

/**
 * Builds the check of one position, or null when nothing there can hold a string or a list (an Int,
 * an enum, a DateTime). Positions that need a rule and have none go to `build.missing`.
 */
function checkFor(type: GraphQLInputType, key: string, build: Build): Check | null {
  const rule = build.rules[key];
  if (rule) build.used.add(key);
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    if (rule?.maxItems === undefined) build.missing.push(`${key} (maxItems)`);
    const item = checkFor(nullable.ofType as GraphQLInputType, key, build);
    const maxItems = rule?.maxItems ?? 0;
    return (value, path, field) => {
      if (value === null || value === undefined) return;
      const items = value as readonly unknown[];
      if (items.length > maxItems)
        refuse(rule ?? {}, field, path, `must have at most ${maxItems} items (got ${items.length})`);
      if (item) for (let i = 0; i < items.length; i++) item(items[i], `${path}[${i}]`, field);
    };
  }
  if (isInputObjectType(nullable)) {
    // Built once per input type, however many positions use it; a type that refers to itself gets
    // a check that looks itself up when it runs.
    const name = nullable.name;
    if (build.objects.has(name))
      return build.objects.get(name) ?? ((value, path, field) => build.objects.get(name)?.(value, path, field));
    build.objects.set(name, null);
    const fields: [string, Check][] = [];
    for (const f of Object.values(nullable.getFields()) as GraphQLInputField[]) {
      const check = checkFor(f.type, `${name}.${f.name}`, build);
      if (check) fields.push([f.name, check]);
    }
    const check: Check | null =
      fields.length === 0
        ? null
        : (value, path, field) => {
            if (value === null || value === undefined) return;
            const object = value as Record<string, unknown>;
            for (const [fieldName, c] of fields) c(object[fieldName], `${path}.${fieldName}`, field);
          };
    build.objects.set(name, check);
    return check;
  }
  if (!isStringScalar(nullable)) return null;
  if (rule?.max === undefined || rule.kind === undefined) {
    build.missing.push(`${key} (max, kind)`);
    return null;
  }
  const { max, kind } = rule;
  return (value, path, field) => {
    if (typeof value !== 'string') return;
    if (value.length > max) refuse(rule, field, path, `must be at most ${max} characters (got ${value.length})`);
    const refused = refusedCharacter(value, kind);
    if (refused) refuse(rule, field, path, refusalText(refused));
  };
}

/** The check of every argument of `field`, or null when none of them can hold a string or a list. */
function fieldCheck(
  typeName: string,
  field: GraphQLField<unknown, unknown>,
  build: Build,
): ((args: Record<string, unknown>) => void) | null {
  const checks: [string, Check][] = [];
  for (const arg of field.args as readonly GraphQLArgument[]) {
    const check = checkFor(arg.type, `${typeName}.${field.name}.${arg.name}`, build);
    if (check) checks.push([arg.name, check]);
  }
  if (checks.length === 0) return null;
  return (args) => {
    for (const [name, check] of checks) check(args[name], name, field.name);
  };
}

/**
 * Puts the gate in front of every resolver (and subscription source) whose field takes an argument
 * that can hold a string or a list. Throws if any such position has no rule.
 */
export function applyInputGate(schema: GraphQLSchema, rules: Readonly<Record<string, InputRule>> = INPUT_RULES): void {
  const build: Build = { rules, missing: [], used: new Set(), objects: new Map() };
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const check = fieldCheck(type.name, field, build);
      if (!check) continue;
      const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) => {
        check(args);
        return resolve(source, args, context, info);
      };
      const subscribe = field.subscribe;
      if (subscribe) {
        field.subscribe = (source, args, context, info) => {
          check(args);
          return subscribe(source, args, context, info);
        };
      }
    }
  }
  if (build.missing.length > 0) throw new Error(`input gate: no rule for ${build.missing.join(', ')}`);
  const unused = Object.keys(rules).filter((key) => !build.used.has(key));
  if (unused.length > 0)
    throw new Error(`input gate: rules for positions the schema does not have: ${unused.join(', ')}`);
}
