/**
 * The document cache: hits skip parsing and validation, the least recently used entry goes first,
 * both the entry count and the total query text are bounded, and failures are never cached.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphQLError, type ValidationRule } from 'graphql';
import { DocumentCache, type PreparedOperation } from './document-cache.js';
import { buildApiSchema } from './executable-schema.js';

const schema = buildApiSchema();

/** A validation rule that counts how often validation ran. */
function counting(): { rule: ValidationRule; runs: () => number } {
  let runs = 0;
  return {
    rule: () => {
      runs += 1;
      return {};
    },
    runs: () => runs,
  };
}

function ok(result: PreparedOperation | readonly GraphQLError[]): PreparedOperation {
  assert.ok(!Array.isArray(result), `expected an operation, got ${JSON.stringify(result)}`);
  return result as PreparedOperation;
}

describe('DocumentCache', () => {
  it('parses and validates a query once, then serves the same document', () => {
    const counter = counting();
    const cache = new DocumentCache(schema, [counter.rule]);
    const a = ok(cache.prepare('{ gateways { id } }', undefined));
    const b = ok(cache.prepare('{ gateways { id } }', undefined));
    assert.equal(a, b);
    assert.equal(counter.runs(), 1);
    assert.equal(a.kind, 'query');
  });

  it('evicts the least recently used entry when full', () => {
    const counter = counting();
    const cache = new DocumentCache(schema, [counter.rule], { maxEntries: 2 });
    cache.prepare('{ a: gateways { id } }', undefined);
    cache.prepare('{ b: gateways { id } }', undefined);
    cache.prepare('{ a: gateways { id } }', undefined); // a is now the most recent
    cache.prepare('{ c: gateways { id } }', undefined); // evicts b
    assert.equal(cache.size, 2);
    const before = counter.runs();
    cache.prepare('{ a: gateways { id } }', undefined);
    assert.equal(counter.runs(), before);
    cache.prepare('{ b: gateways { id } }', undefined);
    assert.equal(counter.runs(), before + 1);
  });

  it('bounds the total query text it keeps', () => {
    const cache = new DocumentCache(schema, [], { maxTotalChars: 100 });
    const padded = (name: string) => `{ ${name}: gateways { id } }`.padEnd(40, ' ');
    for (const name of ['a', 'b', 'c', 'd']) cache.prepare(padded(name), undefined);
    assert.equal(cache.size, 2);
    cache.prepare('{ gateways { id } }'.padEnd(101, ' '), undefined);
    assert.equal(cache.size, 2, 'a query larger than the whole budget is not kept');
  });

  it('does not cache documents that fail, and codes their errors', () => {
    const cache = new DocumentCache(schema, []);
    const syntax = cache.prepare('{', undefined) as readonly GraphQLError[];
    assert.equal(syntax[0]!.extensions.code, 'GRAPHQL_PARSE_FAILED');
    const invalid = cache.prepare('{ nope }', undefined) as readonly GraphQLError[];
    assert.equal(invalid[0]!.extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal(cache.size, 0);
  });

  it('keeps one prepared operation per operation name', () => {
    const cache = new DocumentCache(schema, []);
    const query = 'query A { gateways { id } } mutation B { revokeToken(id: "x") { id } }';
    assert.equal(ok(cache.prepare(query, 'A')).kind, 'query');
    assert.equal(ok(cache.prepare(query, 'B')).kind, 'mutation');
    assert.equal(cache.prepare(query, 'A'), cache.prepare(query, 'A'));
    const missing = cache.prepare(query, undefined) as readonly GraphQLError[];
    assert.equal(missing[0]!.extensions.code, 'BAD_USER_INPUT');
    const unknown = cache.prepare(query, 'C') as readonly GraphQLError[];
    assert.match(unknown[0]!.message, /Unknown operation named "C"/);
  });
});
