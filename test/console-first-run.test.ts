/**
 * Issue "Operator console, second pass", first run: the sign-in page's hint is a command that works
 * as printed (run here through the real `switchboard` process, against a fresh store), the docs show
 * the same one, and `switchboard start` prints the console's address, which answers the console.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SwitchboardProcess } from './support/switchboard-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-first-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The command the sign-in page shows, as one string. */
function signInHint(): string {
  const page = readFileSync('ui/src/auth/sign-in-page.tsx', 'utf8');
  const hint = /<code className="command">([^<]+)<\/code>/.exec(page)?.[1];
  assert.ok(hint, 'the sign-in page shows a command');
  // As JSX renders text: lines broken by a formatter join, the ends are trimmed.
  return hint.replace(/\s+/g, ' ').trim();
}

test('the sign-in hint works as printed and the docs print the same', async () => {
  const hint = signInHint();
  assert.match(hint, /^npx switchboard token create /);
  assert.ok(readFileSync('docs/console.md', 'utf8').includes(hint), 'docs/console.md shows the same command');
  const args = hint.replace(/^npx switchboard /, '').split(' ');
  const p = SwitchboardProcess.start('switchboard token create (the hint)', args, {
    SWITCHBOARD_DATABASE_URL: join(dir, 'hint.db'),
  });
  await p.waitExited();
  assert.equal(p.exitCode, 0, p.tail());
  assert.match(p.stdout().trim(), /^sbt_[a-z0-9_]+$/, 'the token alone on stdout');
});

test("start prints the console's address, and it serves the console", async () => {
  const p = SwitchboardProcess.start('switchboard start (console address)', ['start'], {
    SWITCHBOARD_PORT: '0',
    SWITCHBOARD_DATABASE_URL: join(dir, 'start.db'),
  });
  try {
    const url = (await p.waitForOutput(/Operator console: (http:\/\/\S+\/) \(sign in/, 60_000))[1]!;
    const listening = (await p.waitForOutput(/listening on (http:\/\/\S+)\/graphql/))[1]!;
    assert.equal(url, `${listening}/`);
    const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<div id="root">/);
  } finally {
    await p.stop();
  }
});
