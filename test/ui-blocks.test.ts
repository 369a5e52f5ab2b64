/**
 * Issue "Operator console, second pass": blocks, in a real browser (Debian's chromium) against a REAL
 * OpenVPN server in authorize mode with REAL clients. The disconnect dialog's duration presets preview
 * when the block ends (a fixed clock just before midnight in Berlin); a block set with a preset is
 * enforced on the daemon and listed on the Blocks page with that end and the message the user was sent; Lift, by keyboard, says what
 * the API answered, puts the focus somewhere sensible, and the user really connects again; a lift the
 * API refuses says so; tokens without the scope see no Lift. axe-core: nothing, light and dark.
 * Screenshots go to test-artifacts/ui-blocks/.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import type { AppHarness } from './support/app-harness.js';
import { chromiumSkipReason, launchChromium, type Browser } from './support/browser.js';
import { axeViolations, openConsolePage, signIn } from './support/console-page.js';
import { startConsoleLab, type ConsoleLab } from './support/console-lab.js';
import { onlineIds } from './support/api-client.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui-blocks');
const GW = 'lab-blocks';
const skip = openvpnSkipReason() || chromiumSkipReason();

interface ApiBlock {
  userName: string;
  until: string;
  blockedAt: string;
  blockedBy: string;
  reason: string | null;
  message: string | null;
}

describe('console: block presets, the Blocks page and Lift, real OpenVPN', { skip }, () => {
  let stack: ConsoleLab;
  let server: LabServer;
  let h: AppHarness;
  let page: Page;
  let clients: Map<string, LabClient>;
  const problems: string[] = [];

  const shot = (p: Page, name: string) => p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const sessionRow = (p: Page, user: string) => p.locator(`tbody tr[data-user="${user}"]:not([data-state="leaving"])`);
  const blockRow = (user: string) => page.locator(`tr[data-block-user="${user}"]`);
  const focused = () =>
    page.evaluate(() => {
      const el = document.activeElement;
      return el === null ? null : (el.getAttribute('aria-label') ?? el.textContent ?? el.tagName);
    });
  const blocks = async (): Promise<ApiBlock[]> => {
    const r = await h.gql('{ blocks { userName until blockedAt blockedBy reason message } }');
    return (r.json.data?.blocks as ApiBlock[] | undefined) ?? [];
  };
  const sessionId = async (user: string) => {
    const id = (await onlineIds(h.gql, GW)).get(user);
    assert.ok(id, `${user} is online`);
    return id;
  };

  // A browser of its own for the fixed-clock test (Playwright's clock is per browser context, and the
  // other steps need the real one), started while the lab is.
  let fixedBrowser: Promise<Browser> | undefined;

  before(async () => {
    fixedBrowser = launchChromium();
    fixedBrowser.catch(() => undefined); // awaited by the test; a failure is reported there
    stack = await startConsoleLab({
      artifacts: ARTIFACTS,
      gateway: { id: GW, name: 'Lab Lisbon', region: 'eu-west-lab' },
      users: ['frank', 'gina', 'hana'],
      problems,
      // A lift of a block that is no longer in force answers 400 BLOCK_NOT_FOUND: expected, nothing else is.
      expected: (status, path) => status === 400 && path === '/graphql',
    });
    ({ server, h, page, clients } = stack);
  });
  after(async () => {
    await fixedBrowser?.then((b) => b.close()).catch(() => undefined);
    await stack?.close();
  });

  test('presets preview when the block ends, in local time with the zone, across midnight (fixed clock, Berlin)', async () => {
    const fixed = await fixedBrowser!;
    const p = await openConsolePage(fixed, problems, () => false);
    try {
      const cdp = await p.context().newCDPSession(p);
      await cdp.send('Emulation.setTimezoneOverride', { timezoneId: 'Europe/Berlin' });
      await p.clock.setFixedTime(new Date('2026-12-06T22:50:00Z')); // Sunday 23:50 in Berlin
      await signIn(p, h.url, h.admin);
      await sessionRow(p, 'frank').waitFor({ timeout: 20_000 });
      await sessionRow(p, 'frank')
        .getByRole('button', { name: /^Disconnect frank/ })
        .click();
      const dialog = p.getByRole('dialog', { name: 'Disconnect frank?' });
      const block = dialog.getByRole('group', { name: /^Block reconnection/ });
      const preview = block.locator('[data-block-until]');
      assert.equal(await preview.innerText(), 'No block: Switchboard admits the user’s next connection.');
      await block.getByRole('radio', { name: '15 min' }).check();
      assert.equal(await preview.innerText(), 'Blocked until 00:05 CET tomorrow (Mon 7 Dec).');
      await block.getByRole('radio', { name: '1 h' }).check();
      assert.equal(await preview.innerText(), 'Blocked until 00:50 CET tomorrow (Mon 7 Dec).');
      await block.getByRole('radio', { name: '24 h' }).check();
      assert.equal(await preview.innerText(), 'Blocked until 23:50 CET tomorrow (Mon 7 Dec).');
      await block.getByRole('radio', { name: 'Custom' }).check();
      await block.getByLabel('Block for').fill('5');
      await block.getByLabel('Unit').selectOption('min');
      assert.equal(await preview.innerText(), 'Blocked until 23:55 CET today.');
      await block.getByLabel('Unit').selectOption('d');
      assert.equal(await preview.innerText(), 'Blocked until 23:50 CET on Fri 11 Dec.');
      await shot(p, '01-presets-fixed-clock');
      await block.getByLabel('Block for').fill('0');
      assert.match(await preview.innerText(), /number above 0/);
      assert.equal(await dialog.getByRole('button', { name: 'Disconnect', exact: true }).isDisabled(), true);
      // RESTART takes no block: the choice is not offered.
      await dialog.getByRole('radio', { name: /^May reconnect/ }).check();
      assert.equal(await block.count(), 0);
      assert.deepEqual(await axeViolations(p), [], 'axe-core: dialog with presets');
      await p.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
    } finally {
      await fixed.close();
    }
    assert.equal(clients.get('frank')!.exited, false, 'nothing was sent');
  });

  test('a block set with the 1 h preset is enforced by the daemon and listed with that end, in local time with the zone', async () => {
    await signIn(page, h.url, h.admin);
    await sessionRow(page, 'frank').waitFor({ timeout: 20_000 });
    await sessionRow(page, 'frank')
      .getByRole('button', { name: /^Disconnect frank/ })
      .click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect frank?' });
    await dialog.getByLabel(/^Reason/).fill('phishing report');
    await dialog.getByLabel(/^Message to the user/).fill('Your account is paused: call the help desk.');
    await dialog.getByRole('radio', { name: '1 h' }).check();
    const preview = await dialog.locator('[data-block-until]').innerText();
    const [, hhmm, zone] = /^Blocked until (\d\d:\d\d) (\S+) /.exec(preview) ?? [];
    assert.ok(hhmm && zone, preview);
    await dialog.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await dialog.getByRole('status').filter({ hasText: /^Done/ }).waitFor({ timeout: 15_000 });
    await dialog.getByRole('button', { name: 'Close' }).click();
    await clients.get('frank')!.waitExited(15_000);

    const [frank] = await blocks();
    assert.ok(frank, 'the API lists the block');
    assert.equal(Date.parse(frank.until) - Date.parse(frank.blockedAt), 3600_000, 'the preset is 1 h');
    assert.equal(frank.reason, 'phishing report');
    assert.equal(frank.message, 'Your account is paused: call the help desk.', 'the API has the message sent');
    // Enforced on the real daemon: a new client of frank's is refused.
    const refused = await server.startClient({ user: 'frank', waitConnected: false });
    await refused.waitForLog(/AUTH_FAILED/, { timeoutMs: 20_000 });
    await refused.stop();
    // A second block, set through the API, so the page has two rows.
    const r = await h.gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: HALT, blockSeconds: 900 }) { outcome } }',
      { id: await sessionId('gina') },
    );
    assert.equal(r.status, 200, r.text);

    await page.getByRole('link', { name: 'Blocks' }).click();
    assert.equal(new URL(page.url()).pathname, '/blocks');
    await blockRow('gina').waitFor({ timeout: 10_000 });
    const row = blockRow('frank');
    assert.match(await row.innerText(), /Lab Lisbon/);
    assert.match(await row.innerText(), /phishing report/);
    assert.equal(
      await row.locator('[data-field="message"]').innerText(),
      '“Your account is paused: call the help desk.”',
      'the message the user was sent',
    );
    assert.equal(await blockRow('gina').locator('[data-field="message"]').innerText(), 'none sent');
    assert.match(await row.innerText(), new RegExp(frank.blockedBy));
    // The page shows the API's end in local time with its zone, as the browser itself formats it.
    const untilCell = await row.locator('[data-until] time').innerText();
    const expected = await page.evaluate((iso) => {
      const d = new Date(iso);
      return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    }, frank.until);
    assert.match(untilCell, new RegExp(`^\\d{4}-\\d\\d-\\d\\d ${expected} ${zone}$`), 'the end, with the zone');
    // The preview was read as the preset was picked; the server set the block when the request came in.
    const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
    const late = (minutes(expected) - minutes(hhmm) + 1440) % 1440;
    assert.ok(late <= 1, `the preview said ${hhmm}, the block ends at ${expected}`);
    assert.match(await row.locator('[data-remaining]').innerText(), /^(59 min|1 h 0 min) left$/);
    assert.match(await blockRow('gina').locator('[data-remaining]').innerText(), /^1[45] min left$/);
    assert.deepEqual(await axeViolations(page), [], 'axe-core: blocks page, light');
    await shot(page, '02-blocks');
    await page.getByLabel('Colour theme').selectOption('dark');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    assert.deepEqual(await axeViolations(page), [], 'axe-core: blocks page, dark');
    await shot(page, '03-blocks-dark');
  });

  test('keyboard: Escape cancels Lift and focus comes back; Enter lifts, the answer is shown, focus goes to the next block; the user connects again', async () => {
    await page.locator('#blocks-title').focus();
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Lift the block on frank at Lab Lisbon…');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Lift the block on frank?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /frank may connect to Lab Lisbon \(eu-west-lab\) again at once/);
    assert.match(
      await dialog.innerText(),
      /The user was told: “Your account is paused: call the help desk\.”/,
      'the dialog shows the message the block sent',
    );
    assert.equal(
      await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name),
      'reason',
      'focus starts in the reason',
    );
    assert.deepEqual(await axeViolations(page), [], 'axe-core: lift dialog, dark');
    await shot(page, '04-lift-dialog-dark');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await focused(), 'Lift the block on frank at Lab Lisbon…', 'focus back on the button that opened it');
    assert.equal((await blocks()).length, 2, 'nothing lifted');

    await page.getByLabel('Colour theme').selectOption('light');
    await page.locator('button[data-lift]').first().focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    assert.deepEqual(await axeViolations(page), [], 'axe-core: lift dialog, light');
    await page.keyboard.type('false positive');
    await page.keyboard.press('Enter');
    const outcome = dialog.getByRole('status');
    await outcome.waitFor({ timeout: 10_000 });
    assert.equal(await outcome.innerText(), 'Lifted: frank may connect to Lab Lisbon again.');
    assert.equal(await focused(), 'Close');
    await shot(page, '05-lifted');
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await blockRow('frank').count(), 0, 'its row left');
    assert.equal(await focused(), 'Lift the block on gina at Lab Lisbon…', 'focus on the next block');
    assert.deepEqual(
      (await blocks()).map((b) => b.userName),
      ['gina'],
    );

    const audit = await h.gql(
      '{ auditEvents(first: 1, filter: { action: "block.lift" }) { edges { node { outcome reason target { userName } } } } }',
    );
    assert.deepEqual((audit.json.data?.auditEvents as { edges: { node: unknown }[] }).edges[0]?.node, {
      outcome: 'SUCCESS',
      reason: 'false positive',
      target: { userName: 'frank' },
    });
    // The real client is admitted again.
    const back = await server.startClient({ user: 'frank', waitConnected: false });
    clients.set('frank', back);
    await back.waitConnected({ timeoutMs: 30_000 });
  });

  test('a lift the API refuses says what the API said (the block was lifted meanwhile); the list empties; focus on the heading', async () => {
    await blockRow('gina').getByRole('button', { name: /^Lift/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Lift the block on gina?' });
    await dialog.waitFor();
    const r = await h.gql('mutation { liftBlock(input: { gatewayId: "lab-blocks", userName: "gina" }) { userName } }');
    assert.equal(r.status, 200, r.text);
    await dialog.getByRole('button', { name: 'Lift block' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    assert.equal(
      await alert.innerText(),
      'Not lifted: No block in force for that user on that gateway (it had ended or was lifted already).',
    );
    await shot(page, '06-not-lifted');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.getByText('No user is blocked right now.').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'blocks-title');
    assert.deepEqual(problems, [], 'no script error, no unexpected failed request');
  });

  test('a sessions:read token sees blocks (by their address) but no Lift; an audit:read token has no Blocks page', async () => {
    const r = await h.gql(
      'mutation ($id: String!) { disconnectSession(input: { sessionId: $id, mode: HALT, blockSeconds: 600, reason: "abuse" }) { outcome } }',
      { id: await sessionId('hana') },
    );
    assert.equal(r.status, 200, r.text);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, h.url, await h.token(['sessions:read'], 'reader'));
    await page.getByRole('heading', { name: 'Sessions online' }).waitFor();
    await page.goto(`${h.url}/blocks`);
    await blockRow('hana').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('button[data-lift]').count(), 0);
    await page.getByText(/Lifting a block needs a token with sessions:disconnect/).waitFor();
    assert.deepEqual(await axeViolations(page), [], 'axe-core: blocks page, read-only');
    await shot(page, '07-blocks-read-only');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, h.url, await h.token(['audit:read'], 'auditor'));
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Blocks' }).count(), 0);
    assert.deepEqual(problems, [], 'no script error, no unexpected failed request');
  });
});
