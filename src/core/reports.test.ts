import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { sessionReportSchema, versioned, versionedJson } from './reports.js';
import { sessionReport } from '../../test/support/session-report.js';

const base = sessionReport({ ref: '1234:abcdef', userName: 'alice' });

test('a session report may carry a group and a tun device, or (older agents) leave them out', () => {
  assert.deepEqual(sessionReportSchema.parse({ ...base, group: 'engineering', device: 'vpns0' }), {
    ...base,
    group: 'engineering',
    device: 'vpns0',
  });
  assert.deepEqual(sessionReportSchema.parse({ ...base, group: null, device: null }), {
    ...base,
    group: null,
    device: null,
  });
  assert.deepEqual(sessionReportSchema.parse(base), base);
});

test('group and device are bounded strings', () => {
  assert.equal(sessionReportSchema.safeParse({ ...base, group: 'g'.repeat(513) }).success, false);
  assert.equal(sessionReportSchema.safeParse({ ...base, device: 'd'.repeat(65) }).success, false);
  assert.equal(sessionReportSchema.safeParse({ ...base, device: 7 }).success, false);
});

test('a session report may carry its transport, UDP or TCP, or null, or (older agents) leave it out', () => {
  for (const transport of ['UDP', 'TCP', null] as const)
    assert.deepEqual(sessionReportSchema.parse({ ...base, transport }), { ...base, transport });
  assert.equal(sessionReportSchema.parse(base).transport, undefined);
  for (const transport of ['udp', 'QUIC', 1])
    assert.equal(sessionReportSchema.safeParse({ ...base, transport }).success, false, String(transport));
});

test('versionedJson: the versioned message, for any object JSON.stringify writes (the same text) and any other JSON text', () => {
  const value = (json: string) => JSON.stringify(versioned(JSON.parse(json) as object));
  // The same value, keys in the same order (a `version` already there keeps its place, as in `versioned`).
  const same = (json: string) => assert.equal(JSON.stringify(JSON.parse(versionedJson(json))), value(json));
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (v) => {
      const json = JSON.stringify(v);
      same(json);
      if (!('version' in v)) assert.equal(versionedJson(json), value(json));
    }),
    { numRuns: 500 },
  );
  // An event as the outbox holds it, and texts JSON.stringify does not write.
  same(JSON.stringify({ id: 'evt_1', type: 'session.disconnected', session: { ref: '1:2', bytesSent: 2 ** 40 } }));
  for (const json of ['{}', ' {"a":1}', '{"a":1} ', '{ "a": 1 }', '{"a":1\n}', '{"version":0,"a":[]}']) same(json);
  assert.equal(versionedJson('{"a":{}}'), '{"a":{},"version":1}');
});
