/**
 * The disconnect dialog's block durations (console): the presets in seconds, custom values checked
 * as the API would, and the "until hh:mm (zone)" preview at fixed clocks and zones, across midnight,
 * a year's end and a DST change. The dialog itself is driven in test/ui-blocks.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK_PRESETS, blockSecondsOf, untilPreview } from '../ui/src/sessions/block-duration.js';

test('presets are 15 min, 1 h and 24 h in seconds; no block is null', () => {
  assert.deepEqual(
    BLOCK_PRESETS.map((p) => [p.label, blockSecondsOf({ kind: 'preset', id: p.id })]),
    [
      ['15 min', 900],
      ['1 h', 3600],
      ['24 h', 86_400],
    ],
  );
  assert.equal(blockSecondsOf({ kind: 'none' }), null);
});

test('custom durations: minutes, hours, days; nothing, zero, negative and over a year are refused with a reason', () => {
  assert.equal(blockSecondsOf({ kind: 'custom', amount: '90', unit: 'min' }), 5400);
  assert.equal(blockSecondsOf({ kind: 'custom', amount: '1.5', unit: 'h' }), 5400);
  assert.equal(blockSecondsOf({ kind: 'custom', amount: '365', unit: 'd' }), 31_536_000);
  for (const amount of ['', ' ', '0', '-2', 'abc'])
    assert.match(
      (blockSecondsOf({ kind: 'custom', amount, unit: 'h' }) as { error: string }).error,
      /number above 0/,
      amount,
    );
  assert.match((blockSecondsOf({ kind: 'custom', amount: '366', unit: 'd' }) as { error: string }).error, /365 days/);
});

test('the preview names the local time, the zone, and the day when it is not today', () => {
  const berlin2350 = Date.parse('2026-12-06T22:50:00Z'); // 23:50 in Berlin (CET), a Sunday
  assert.equal(untilPreview(berlin2350, 5 * 60, 'Europe/Berlin'), 'until 23:55 CET today');
  assert.equal(untilPreview(berlin2350, 15 * 60, 'Europe/Berlin'), 'until 00:05 CET tomorrow (Mon 7 Dec)');
  assert.equal(untilPreview(berlin2350, 86_400, 'Europe/Berlin'), 'until 23:50 CET tomorrow (Mon 7 Dec)');
  // The same instant is still Sunday afternoon in New York, and already Monday in Tokyo.
  assert.equal(untilPreview(berlin2350, 3600, 'America/New_York'), 'until 18:50 GMT-5 today');
  assert.equal(untilPreview(berlin2350, 3600, 'Asia/Tokyo'), 'until 08:50 GMT+9 today');
  assert.equal(untilPreview(berlin2350, 3 * 86_400, 'UTC'), 'until 22:50 UTC on Wed 9 Dec');
  // A year's end, and a block of a year.
  const newYearsEve = Date.parse('2026-12-31T23:30:00Z');
  assert.equal(untilPreview(newYearsEve, 3600, 'UTC'), 'until 00:30 UTC tomorrow (Fri 1 Jan)');
  assert.match(untilPreview(newYearsEve, 31_536_000, 'UTC'), /^until 23:30 UTC on Fri,? 31 Dec 2027$/);
  // Clocks go back in Berlin on 2026-10-25 at 03:00 CEST: 24 h after 12:00 CEST is 11:00 CET.
  assert.equal(
    untilPreview(Date.parse('2026-10-24T10:00:00Z'), 86_400, 'Europe/Berlin'),
    'until 11:00 CET tomorrow (Sun 25 Oct)',
  );
});
