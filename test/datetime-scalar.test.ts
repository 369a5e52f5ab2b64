/**
 * The DateTime scalar's input rules, on the schema the server runs: every instant the calendar has is
 * accepted (offsets, Z, lower case, fractions, 24:00, leap days), and a date or field it does not have
 * is BAD_USER_INPUT with a message that names the field, never rolled over into another day. The same
 * refusals over HTTP, WebSocket and SSE on both stores are in the bad-input corpus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphQLError, graphql, type GraphQLScalarType } from 'graphql';
import { buildApiSchema } from '../src/api/executable-schema.js';

const schema = buildApiSchema();
const scalar = schema.getType('DateTime') as GraphQLScalarType;

test('valid instants are accepted as they are', () => {
  const valid: Record<string, string> = {
    '2024-05-01T12:00:00Z': '2024-05-01T12:00:00.000Z',
    '2024-05-01T12:00Z': '2024-05-01T12:00:00.000Z',
    '2024-05-01t12:00:00z': '2024-05-01T12:00:00.000Z',
    '2024-05-01T12:00:00.123456789Z': '2024-05-01T12:00:00.123Z',
    '2024-05-01T12:00:00+02:00': '2024-05-01T10:00:00.000Z',
    '2024-05-01T00:30:00-23:59': '2024-05-02T00:29:00.000Z',
    '2024-02-29T00:00:00Z': '2024-02-29T00:00:00.000Z',
    '2000-02-29T00:00:00Z': '2000-02-29T00:00:00.000Z',
    '2024-04-30T23:59:59.999Z': '2024-04-30T23:59:59.999Z',
    '2024-12-31T24:00:00Z': '2025-01-01T00:00:00.000Z',
    '2024-12-31T24:00Z': '2025-01-01T00:00:00.000Z',
  };
  for (const [text, instant] of Object.entries(valid)) {
    assert.equal(new Date(scalar.parseValue(text) as number).toISOString(), instant, text);
  }
});

test('a date or field the calendar does not have is refused with a message naming it', () => {
  const invalid: Record<string, RegExp> = {
    '2024-02-31T00:00:00Z': /day 31 does not exist, February 2024 has 29 days/,
    '2023-02-29T00:00:00Z': /day 29 does not exist, February 2023 has 28 days/,
    '1900-02-29T00:00:00Z': /February 1900 has 28 days/,
    '2024-04-31T00:00:00Z': /April 2024 has 30 days/,
    '2024-01-00T00:00:00Z': /day 00 does not exist/,
    '2024-13-01T00:00:00Z': /month 13 does not exist/,
    '2024-00-10T00:00:00Z': /month 00 does not exist/,
    '2024-01-01T25:00:00Z': /hour 25 does not exist/,
    '2024-01-01T24:00:01Z': /hour 24 is only 24:00:00/,
    '2024-01-01T24:30Z': /hour 24 is only 24:00:00/,
    '2024-01-01T23:60:00Z': /minute 60 does not exist/,
    '2024-12-31T23:59:60Z': /leap seconds/,
    '2024-01-01T23:59:61Z': /second 61 does not exist/,
    '2024-01-01T00:00:00+24:00': /the offset is not one/,
    '2024-01-01T00:00:00+14:60': /the offset is not one/,
    yesterday: /must be an ISO-8601 date-time/,
  };
  for (const [text, message] of Object.entries(invalid)) {
    assert.throws(
      () => scalar.parseValue(text),
      (e: unknown) => e instanceof GraphQLError && e.extensions.code === 'BAD_USER_INPUT' && message.test(e.message),
      text,
    );
  }
});

test('a literal and a variable are refused alike, with the reason in the error', async () => {
  const literal = await graphql({
    schema,
    source: '{ onlineSessions(filter: { connectedAfter: "2024-02-31T00:00:00Z" }) { totalCount } }',
  });
  assert.match(literal.errors?.[0]?.message ?? '', /February 2024 has 29 days/);
  const variable = await graphql({
    schema,
    source: 'query ($t: DateTime) { onlineSessions(filter: { connectedAfter: $t }) { totalCount } }',
    variableValues: { t: '2024-13-01T00:00:00Z' },
  });
  assert.match(variable.errors?.[0]?.message ?? '', /month 13 does not exist/);
});
