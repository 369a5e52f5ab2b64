// A node:test reporter that records how long each test file took (the sum of its top-level tests)
// and how many tests passed, failed and were skipped, as JSON lines for scripts/run-tests.mjs to
// summarise once the run ends. Used beside the spec reporter, never instead of it.
export default async function* durations(source) {
  const files = new Map();
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (data.details?.type !== 'suite') {
      if (data.skip || data.todo) counts.skipped++;
      else if (event.type === 'test:pass') counts.passed++;
      else counts.failed++;
    }
    if (data.nesting === 0 && data.file) files.set(data.file, (files.get(data.file) ?? 0) + (data.details?.duration_ms ?? 0));
  }
  for (const [file, ms] of files) yield `${JSON.stringify({ file, ms: Math.round(ms) })}\n`;
  yield `${JSON.stringify({ counts })}\n`;
}
