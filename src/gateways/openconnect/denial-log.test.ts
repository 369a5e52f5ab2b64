import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DenialLog, parseDenialLine } from './denial-log.js';

test('refusal lines: time, client address (or -), user name with spaces', () => {
  assert.deepEqual(parseDenialLine('1796555046 192.0.2.1 alice'), {
    at: 1_796_555_046_000,
    clientAddress: '192.0.2.1',
    userName: 'alice',
  });
  assert.deepEqual(parseDenialLine('1796555046 - bob smith'), {
    at: 1_796_555_046_000,
    clientAddress: null,
    userName: 'bob smith',
  });
  for (const bad of ['', 'x 1.2.3.4 alice', '1796555046 1.2.3.4', '1796555046'])
    assert.equal(parseDenialLine(bad), null, bad);
});

test('only what was appended since the last read, whole lines only; an emptied file starts over; older lines are not replayed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-ocden-'));
  try {
    const path = join(dir, 'blocks.denied');
    writeFileSync(path, '1 10.0.0.1 old\n');
    const log = new DenialLog(path);
    assert.deepEqual(log.read(), []);
    appendFileSync(path, '2 10.0.0.2 alice\n3 10.0.0.3 bo');
    assert.deepEqual(
      log.read().map((d) => d.userName),
      ['alice'],
    );
    appendFileSync(path, 'b\n');
    assert.deepEqual(
      log.read().map((d) => d.userName),
      ['bob'],
    );
    truncateSync(path, 0);
    appendFileSync(path, '4 - carol\n');
    assert.deepEqual(
      log.read().map((d) => d.userName),
      ['carol'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
