/**
 * The input gate over the whole schema: every string position of every root field (generated from
 * the schema), run by graphql-js and graphql-jit, refuses U+0000, other control characters, lone
 * surrogates and values over its cap with a coded error naming the argument — before the core is
 * reached — and lets a plain value through to the core.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSchema, execute, parse, subscribe, type ExecutionResult } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { isDomainError } from '../domain/errors.js';
import { stringPositions, type StringPosition } from '../../test/corpus/string-positions.js';
import { buildApiSchema } from './executable-schema.js';
import { applyInputGate, INPUT_RULES } from './input-gate.js';

const schema = buildApiSchema();
const positions = stringPositions(schema);

/** A context whose core records the first call and answers nothing. */
function context() {
  const reached: string[] = [];
  const core = new Proxy(
    {},
    {
      get:
        (_t, name) =>
        (..._args: unknown[]) => {
          reached.push(String(name));
          return name === 'sessionEvents' ? (async function* () {})() : Promise.resolve(null);
        },
    },
  );
  return {
    reached,
    ctx: {
      core,
      actor: { tokenId: 't', name: 't', scopes: ['admin'], ip: null, userAgent: null },
      logger: null,
      mediaType: 'application/json',
      operation: null,
      gateway: () => Promise.resolve(null),
    },
  };
}

async function run(
  p: StringPosition,
  value: string,
  engine: 'graphql-js' | 'graphql-jit',
): Promise<{ result: ExecutionResult; reached: string[] }> {
  const { query, variables } = p.request(value);
  const { reached, ctx } = context();
  const document = parse(query);
  let result: ExecutionResult;
  if (p.operation === 'subscription') {
    const r = await subscribe({ schema, document, variableValues: variables, contextValue: ctx });
    result = Symbol.asyncIterator in r ? { data: {} } : r;
  } else if (engine === 'graphql-jit') {
    const compiled = compileQuery(schema, document);
    assert.ok(isCompiledQuery(compiled), query);
    result = await compiled.query(undefined, ctx, variables);
  } else {
    result = await execute({ schema, document, variableValues: variables, contextValue: ctx });
  }
  return { result, reached };
}

function refusal(result: ExecutionResult): { code: string | undefined; message: string } {
  const error = result.errors?.[0];
  const original = error?.originalError;
  return { code: isDomainError(original) ? original.code : undefined, message: error?.message ?? '' };
}

test('the schema has string positions, and every one has a rule', () => {
  assert.ok(positions.length >= 25, `${positions.length} positions`);
  for (const p of positions) assert.ok(INPUT_RULES[p.ruleKey]?.max, `${p.field} ${p.path}: ${p.ruleKey}`);
});

test('a schema with a string argument and no rule cannot be built; nor can a rule for nothing', () => {
  const unruled = buildSchema('type Query { a(x: String): Int b(l: [Int!]): Int }');
  assert.throws(() => applyInputGate(unruled, {}), /no rule for Query\.a\.x \(max, kind\), Query\.b\.l \(maxItems\)/);
  const stale = buildSchema('type Query { a(x: Int): Int }');
  assert.throws(
    () => applyInputGate(stale, { 'Query.a.y': { max: 1, kind: 'line' } }),
    /rules for positions the schema does not have: Query\.a\.y/,
  );
});

/** Refused at every position. */
const BAD: [string, (max: number) => string][] = [
  ['U+0000', () => 'sess_\u0000'],
  ['lone surrogate', () => 'a\uD800b'],
  ['one character over the cap', (max) => 'x'.repeat(max + 1)],
];
/** Refused at every position but a reported name's (which takes any name a gateway may report). */
const CONTROL: [string, string][] = [
  ['ESC', 'a\u001b[2Jb'],
  ['DEL', 'a\u007f'],
  ['C1 (U+0085)', 'a\u0085'],
  ['carriage return', 'a\rb'],
  ['line separator', 'a\u2028b'],
];

for (const engine of ['graphql-js', 'graphql-jit'] as const) {
  test(`${engine}: every string position refuses bad input before the core, naming the argument`, async () => {
    for (const p of positions) {
      if (engine === 'graphql-jit' && p.operation === 'subscription') continue;
      const rule = INPUT_RULES[p.ruleKey]!;
      const bad = rule.kind === 'reported' ? BAD : [...BAD, ...CONTROL.map(([w, v]) => [w, () => v] as const)];
      for (const [what, make] of bad) {
        const { result, reached } = await run(p, make(rule.max!), engine);
        const { code, message } = refusal(result);
        assert.equal(
          code,
          rule.code ?? 'BAD_USER_INPUT',
          `${p.field} ${p.path} ${what}: ${JSON.stringify(result.errors)}`,
        );
        assert.ok(message.startsWith(`Argument ${p.path} of ${p.field} `), `${p.field} ${p.path} ${what}: ${message}`);
        assert.deepEqual(reached, [], `${p.field} ${p.path} ${what}: the core was not reached`);
      }
    }
  });
}

test('names shown to people refuse bidi controls and invisible characters; other text does not need to', async () => {
  const bidi = ['\u202E', '\u2066', '\u200F', '\u061C', '\u200B', '\u00AD', '\u2060', '\uFEFF', '\u180E'];
  for (const p of positions) {
    const rule = INPUT_RULES[p.ruleKey]!;
    for (const b of bidi) {
      const { result, reached } = await run(p, `abc${b}def`, 'graphql-js');
      if (rule.kind === 'name') {
        assert.equal(refusal(result).code, 'BAD_USER_INPUT', `${p.path} ${escape(b)}`);
        assert.match(refusal(result).message, /bidi control|invisible character/);
      } else {
        assert.ok(
          !refusal(result).message.startsWith('Argument '),
          `${p.field} ${p.path}: ${JSON.stringify(result.errors)}`,
        );
        assert.ok(reached.length > 0 || result.errors !== undefined);
      }
    }
  }
  assert.deepEqual(
    positions
      .filter((p) => INPUT_RULES[p.ruleKey]!.kind === 'name')
      .map((p) => `${p.field} ${p.path}`)
      .sort(),
    ['createToken input.name', 'createWebhook input.description'],
  );
});

test('a user name argument takes any name a gateway may report: control characters too, so every session can be named', async () => {
  const reported = positions.filter((p) => INPUT_RULES[p.ruleKey]!.kind === 'reported');
  assert.deepEqual(
    [...new Set(reported.map((p) => p.ruleKey.split('.').pop()))].sort(),
    ['targetUserName', 'userName', 'userNameContains'],
    'only user names are reported names',
  );
  assert.ok(reported.length >= 8, `${reported.length} positions`);
  for (const p of reported) {
    for (const [what, value] of [...CONTROL, ['tab', 'a\tb'] as [string, string]]) {
      const { result, reached } = await run(p, value, 'graphql-js');
      assert.ok(
        !refusal(result).message.startsWith('Argument '),
        `${p.field} ${p.path} ${what}: ${JSON.stringify(result.errors)}`,
      );
      assert.ok(reached.length > 0 || result.errors !== undefined, `${p.field} ${p.path} ${what}`);
    }
  }
});

test('a reason may hold tabs and newlines; a message may not', async () => {
  const reason = positions.find((p) => p.field === 'disconnectSession' && p.path === 'input.reason')!;
  const message = positions.find((p) => p.field === 'disconnectSession' && p.path === 'input.message')!;
  const ok = await run(reason, 'line one\n\tline two', 'graphql-js');
  assert.deepEqual(ok.reached, ['disconnect']);
  const refused = await run(message, 'line one\nline two', 'graphql-js');
  assert.match(
    refusal(refused.result).message,
    /^Argument input\.message of disconnectSession must not contain a control character \(U\+000A at character 9\)$/,
  );
});

test("plain values at the cap pass the gate (to the core, or to the resolver's own check of what the value means)", async () => {
  let reachedCore = 0;
  for (const p of positions) {
    const rule = INPUT_RULES[p.ruleKey]!;
    const { result, reached } = await run(p, 'x'.repeat(rule.max!), 'graphql-js');
    assert.ok(
      !refusal(result).message.startsWith('Argument '),
      `${p.field} ${p.path}: ${JSON.stringify(result.errors)}`,
    );
    if (reached.length > 0) reachedCore += 1;
    else assert.equal(refusal(result).code, 'BAD_USER_INPUT', `${p.field} ${p.path}`);
  }
  assert.ok(reachedCore >= positions.length - 5, `${reachedCore} of ${positions.length} reached the core`);
});

test('lists are capped too', async () => {
  const scopes = positions.find((p) => p.path === 'input.scopes[0]')!;
  const { query } = scopes.request('x');
  const { reached, ctx } = context();
  const result = await execute({
    schema,
    document: parse(query),
    variableValues: { v0: { name: 'n', scopes: Array.from({ length: 17 }, () => 'admin') } },
    contextValue: ctx,
  });
  assert.match(
    refusal(result).message,
    /^Argument input\.scopes of createToken must have at most 16 items \(got 17\)$/,
  );
  assert.deepEqual(reached, []);
});
