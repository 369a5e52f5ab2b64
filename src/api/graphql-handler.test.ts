/**
 * The handler's plain path (`run`, taken for a POST of a JSON object with plain headers) against
 * graphql-http's own: for every kind of answer (data, each error status, request errors under both
 * media types) the same status, headers and bytes, and the same outcome for the metrics.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { newSessionId } from '../domain/ids.js';
import { createContext, type ApiContext, type ResponseMediaType } from './context.js';
import { buildApiSchema } from './executable-schema.js';
import { FakeCore } from './fake-core.test-support.js';
import { createGraphqlHandler } from './graphql-handler.js';

const schema = buildApiSchema();
const logger = pino({ level: 'silent' });
const SESSION = newSessionId();
const DISCONNECT = 'mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }';

type Setup = 'reader' | 'unconfirmed' | undefined;

/** A fresh core with one online session, and a context for an admin (or a reader). */
async function contextOf(mediaType: ResponseMediaType, setup: Setup): Promise<ApiContext> {
  const core = new FakeCore();
  core.addSession({ id: SESSION });
  if (setup === 'unconfirmed') core.gatewayConfirms = false;
  const secret = core.addToken('t', setup === 'reader' ? ['sessions:read'] : ['admin']);
  const actor = await core.authenticate(secret, { ip: null, userAgent: null });
  return createContext(core, actor, logger, mediaType);
}

const cases: [string, Record<string, unknown>, Setup?][] = [
  ['a query', { query: '{ viewer { name scopes } }' }],
  ['the disconnect', { query: DISCONNECT, variables: { id: SESSION } }],
  ['an unknown session', { query: DISCONNECT, variables: { id: newSessionId() } }],
  ['a caller without the scope', { query: DISCONNECT, variables: { id: SESSION } }, 'reader'],
  ['a gateway that does not confirm', { query: DISCONNECT, variables: { id: SESSION } }, 'unconfirmed'],
  ['variables that do not coerce', { query: DISCONNECT, variables: { id: 5 } }],
  ['a missing variable', { query: DISCONNECT }],
  ['null fields', { query: '{ viewer { name } }', variables: null, operationName: null, extensions: null }],
  ['a named operation', { query: 'query A { viewer { name } } query B { viewer { scopes } }', operationName: 'B' }],
  ['an unknown operation', { query: 'query A { viewer { name } }', operationName: 'C' }],
  ['several operations, no name', { query: 'query A { viewer { name } } query B { viewer { scopes } }' }],
  ['a validation error', { query: '{ viewer { nope } }' }],
  ['a syntax error', { query: '{ viewer { name }' }],
  ['a subscription', { query: 'subscription { sessionEvents { type } }' }],
];

describe('graphql handler: the plain path answers as graphql-http does', () => {
  for (const mediaType of ['application/json', 'application/graphql-response+json'] as const) {
    for (const [name, body, setup] of cases) {
      it(`${name} (${mediaType})`, async () => {
        const text = JSON.stringify(body);
        // One handler per path, so that each path prepares (and later compiles) the document itself.
        const viaHttp = createGraphqlHandler({ schema, logger });
        const direct = createGraphqlHandler({ schema, logger });
        const params = direct.paramsOf(text);
        assert.ok(params !== null, 'the plain path takes this body');
        // Twice each: the second run is the one graphql-jit compiles.
        for (let run = 0; run < 2; run++) {
          const a = await contextOf(mediaType, setup);
          const b = await contextOf(mediaType, setup);
          const expected = await viaHttp({
            method: 'POST',
            url: '/graphql',
            headers: { 'content-type': 'application/json', accept: mediaType },
            body: text,
            raw: {} as IncomingMessage,
            context: a,
          });
          const got = await direct.run('POST', params, b);
          assert.deepEqual(got, expected);
          assert.equal(b.outcome, a.outcome);
          assert.equal(b.operation === null, a.operation === null);
        }
      });
    }
  }

  it('leaves to graphql-http every body it does not take as it is', () => {
    const h = createGraphqlHandler({ schema, logger });
    for (const body of [
      'not json',
      '[]',
      '"text"',
      'null',
      '{}',
      '{"query": 1}',
      '{"query": "{ viewer { name } }", "variables": []}',
      '{"query": "{ viewer { name } }", "variables": "x"}',
      '{"query": "{ viewer { name } }", "operationName": 2}',
      '{"query": "{ viewer { name } }", "extensions": [1]}',
    ])
      assert.equal(h.paramsOf(body), null, body);
  });
});
