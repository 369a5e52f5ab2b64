/**
 * The limits rule on its own, against a schema that recurses (ours does not, outside introspection),
 * so depth, aliases and cost can each be pushed past their limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { queryLimitsRule, type QueryLimits } from './limits.js';

const schema = buildSchema(`
  type Query { node: Node, nodes(first: Int = 10): [Node!]! }
  type Node { id: ID!, child: Node, children(first: Int): [Node!]! }
`);
const limits: QueryLimits = { maxDepth: 5, maxAliases: 3, maxCost: 1000, maxPageSize: 100 };

function errorsOf(query: string): string[] {
  return validate(schema, parse(query), [...specifiedRules, queryLimitsRule(limits)]).map(
    (e) => `${String(e.extensions.code)}: ${e.message}`,
  );
}

describe('queryLimitsRule', () => {
  it('allows depth up to the limit and refuses one more', () => {
    assert.deepEqual(errorsOf('{ node { child { child { child { id } } } } }'), []);
    assert.deepEqual(errorsOf('{ node { child { child { child { child { id } } } } } }'), [
      'QUERY_TOO_COMPLEX: Query is too complex: deeper than 5 levels',
    ]);
  });

  it('counts depth through fragments', () => {
    const errors = errorsOf(
      '{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { child { child { child { id } } } }',
    );
    assert.deepEqual(errors, ['QUERY_TOO_COMPLEX: Query is too complex: deeper than 5 levels']);
  });

  it('counts aliases, including those a fragment repeats', () => {
    assert.deepEqual(errorsOf('{ a: node { id } b: node { id } c: node { id } }'), []);
    assert.deepEqual(errorsOf('{ ...F ... on Query { ...F } } fragment F on Query { a: node { id } b: node { id } }'), [
      'QUERY_TOO_COMPLEX: Query is too complex: more than 3 aliases',
    ]);
  });

  it('multiplies cost by first: literal, schema default, variable default, or the maximum', () => {
    // 1 + 100 × (1 + 1 + 10 × 1) = 1201 > 1000
    assert.deepEqual(errorsOf('{ nodes(first: 100) { id children(first: 10) { id } } }'), [
      'QUERY_TOO_COMPLEX: Query is too complex: costs more than 1000 (fields × first)',
    ]);
    assert.deepEqual(errorsOf('{ nodes(first: 50) { id children(first: 10) { id } } }'), []);
    // Schema default 10: 1 + 10 × (1 + 1 + 100 × 1) = 1021
    assert.equal(errorsOf('{ nodes { id children(first: 100) { id } } }').length, 1);
    assert.deepEqual(errorsOf('query ($n: Int = 5) { nodes(first: $n) { id children(first: 100) { id } } }'), []);
    assert.equal(errorsOf('query ($n: Int) { nodes(first: $n) { id children(first: 10) { id } } }').length, 1);
  });

  it('clamps absurd page sizes to the maximum instead of overflowing', () => {
    assert.equal(errorsOf('{ nodes(first: 2147483647) { id } }').length, 0);
  });

  it('stops early on an exponential fragment bomb', () => {
    const fragments = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Node { ...F${i + 1} ...F${i + 1} }`).join(
      '\n',
    );
    const query = `{ node { ...F0 } } ${fragments} fragment F30 on Node { id }`;
    // 2^30 expansions if walked fully; the rule must return promptly with a cost error.
    assert.deepEqual(errorsOf(query), [
      'QUERY_TOO_COMPLEX: Query is too complex: costs more than 1000 (fields × first)',
    ]);
  });
});
