import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionReportSchema } from './reports.js';
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
