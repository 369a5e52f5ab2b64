// A node:test reporter that records how long each test file took and how many tests passed, failed
// and were skipped (a skipped suite counts as one), as JSON lines for scripts/run-tests.mjs to summarise once the run ends. Used
// beside the spec reporter, never instead of it.
//
// A file's time is its own process's, start to exit (the runner's `test:complete` for the file):
// imports, file-level hooks and every test in it. Tests that a shared contract declares (bus.contract.ts,
// src/store/contract/) carry the contract's path, not the file that ran them, so summing tests by
// their `file` would credit the contract; the sum is only the fallback for a runner without that event.
export default async function* durations(source) {
  const files = new Map();
  const sums = new Map();
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:complete' && data.file && data.name === data.file)
      files.set(data.file, data.details?.duration_ms ?? 0);
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    // A skipped suite (`describe(…, { skip })`) runs none of its tests and reports none of them: it
    // counts as one skipped, so the closing line never hides it.
    if (data.details?.type === 'suite') {
      if (data.skip || data.todo) counts.skipped++;
    } else {
      if (data.skip || data.todo) counts.skipped++;
      else if (event.type === 'test:pass') counts.passed++;
      else counts.failed++;
    }
    if (data.nesting === 0 && data.file)
      sums.set(data.file, (sums.get(data.file) ?? 0) + (data.details?.duration_ms ?? 0));
  }
  for (const [file, ms] of files.size > 0 ? files : sums) yield `${JSON.stringify({ file, ms: Math.round(ms) })}\n`;
  yield `${JSON.stringify({ counts })}\n`;
}
