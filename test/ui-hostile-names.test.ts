/**
 * User names the console did not choose, in a real browser (Debian's chromium, playwright-core), on
 * SQLite and PostgreSQL. A user name comes from the daemon (a certificate's common name, a login a
 * client typed): markup in one stays text and runs nothing; one made to read as another (a bidi
 * override, a zero-width space) is shown with the hidden character marked, so three rows that all
 * read "admin" become three different names; a very long one wraps in its cell and every row's other
 * columns stay in view. What is shown changes, not what is used: the disconnect dialog names the
 * marked name, and the user's history link asks for the name exactly as it is.
 *
 * The gateway is the test double (test/support/fake-adapter.ts): what is under test is the console's
 * rendering of a name the store gave back, whatever daemon reported it. Screenshots go to
 * test-artifacts/ui-hostile-names/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeAdapter } from './support/fake-adapter.js';
import { startApp } from './support/app-harness.js';
import { chromiumSkipReason, launchChromium, type Browser } from './support/browser.js';
import { buildConsole, openConsolePage, signIn } from './support/console-page.js';
import { databaseFor, postgresSkipReason } from './support/postgres.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui-hostile-names');
const VIEWPORT_WIDTH = 1400;

/** Raw name → what the console must show for it. */
const NAMES: [string, string][] = [
  ['admin', 'admin'],
  ['\u202Enimda', '[U+202E]nimda'],
  ['ad\u200Bmin', 'ad[U+200B]min'],
  ['<img src=x onerror=alert(document.domain)>', '<img src=x onerror=alert(document.domain)>'],
  ['eve\u001b[31m\nroot', 'eve[U+001B][31m[U+000A]root'],
  ['🦄 émoji 👩‍👩‍👧', '🦄 émoji 👩‍👩‍👧'],
  ['x'.repeat(300), 'x'.repeat(300)],
];

const stores = { sqlite: false as const, postgres: await postgresSkipReason() };

describe('console, user names from daemons: inert, told apart, readable', { skip: chromiumSkipReason() }, () => {
  let browser: Browser;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    buildConsole();
    browser = await launchChromium({ width: VIEWPORT_WIDTH, height: 900 });
  });
  after(async () => {
    await browser?.close();
  });

  for (const dialect of ['sqlite', 'postgres'] as const) {
    test(
      `${dialect}: each name is shown as what it holds, and acted on as it is`,
      { skip: stores[dialect] },
      async () => {
        const db = await databaseFor(dialect);
        const gw = new FakeAdapter({ id: `gw-names-${dialect}`, name: 'Names lab' });
        const h = await startApp({ adapters: [gw], databaseUrl: db.url });
        const problems: string[] = [];
        const page = await openConsolePage(browser, problems, () => false);
        page.on('dialog', (d) => {
          problems.push(`a dialog opened: ${d.message()}`);
          void d.dismiss();
        });
        try {
          for (const [raw] of NAMES) gw.connect(raw);
          await signIn(page, h.url, h.admin);
          const table = page.locator('table[aria-label="Online sessions"]');
          await page.waitForFunction(
            (n) => document.querySelectorAll('tbody tr[data-user]').length === n,
            NAMES.length,
          );
          // Rows by their raw name (data-user holds it as the API gave it): a CSS selector cannot hold some of them.
          const users = await table
            .locator('tbody tr')
            .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user')));
          const row = (raw: string) => table.locator('tbody tr').nth(users.indexOf(raw));

          const shownNames: string[] = [];
          for (const [raw, expected] of NAMES) {
            const userCell = row(raw).locator('td').nth(1);
            const text = (await userCell.innerText()).trim();
            assert.equal(text, expected, `the name ${JSON.stringify(raw)} is shown as ${JSON.stringify(expected)}`);
            shownNames.push(text);
          }
          assert.equal(new Set(shownNames).size, NAMES.length, 'no two names read the same');
          assert.equal(await table.locator('img').count(), 0, 'markup in a name is text, not an element');

          // The long name wraps inside its cell: every row's gateway and actions stay on screen.
          for (const [raw] of NAMES) {
            const gateway = await row(raw).locator('td').nth(3).boundingBox();
            assert.ok(gateway, `the gateway cell of ${JSON.stringify(raw.slice(0, 20))}`);
            assert.ok(
              gateway.x + gateway.width <= VIEWPORT_WIDTH,
              `the gateway column is in view (it ends at ${Math.round(gateway.x + gateway.width)} px)`,
            );
          }
          await page.screenshot({ path: join(ARTIFACTS, `01-sessions-${dialect}.png`), fullPage: true });

          // The disconnect dialog names the session by its marked name.
          await row('\u202Enimda')
            .getByRole('button', { name: /^Disconnect / })
            .click();
          await page.getByRole('heading', { name: 'Disconnect [U+202E]nimda?' }).waitFor();
          await page.screenshot({ path: join(ARTIFACTS, `02-disconnect-${dialect}.png`) });
          await page.keyboard.press('Escape');

          // The detail's user link asks for the name exactly as the daemon gave it.
          await row('\u202Enimda')
            .getByRole('button', { name: /^Details of / })
            .click();
          await page.getByRole('complementary').getByRole('link', { name: 'History of user [U+202E]nimda' }).click();
          await page.locator('table[aria-label="Session history"] tbody tr').first().waitFor();
          assert.equal(new URL(page.url()).searchParams.get('user'), '\u202Enimda');
          const history = page.locator('table[aria-label="Session history"] tbody tr');
          assert.equal(await history.count(), 1, 'that user’s one session, no other');
          assert.match(await history.innerText(), /^\[U\+202E\]nimda/);
          assert.deepEqual(problems, [], 'no script ran, no errors, no failed requests');
        } finally {
          await page.close();
          await h.close();
          await db.drop();
        }
      },
    );
  }
});
