/**
 * Issue "Operator console", end to end in a real browser: Debian's chromium (playwright-core) against
 * the whole Switchboard attached to a REAL OpenVPN server in authorize mode, with REAL clients. Sign in,
 * see the clients, filter, open a session, disconnect one with a reason and watch its row leave while
 * the client process exits, find the audit entry, a read-only token without disconnect buttons, a bad
 * token's message, a new client appearing live. Screenshots of each page go to test-artifacts/ui/.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import type { AppHarness } from './support/app-harness.js';
import { chromiumSkipReason } from './support/browser.js';
import { AUDIT_ACTIONS } from '../src/domain/audit.js';
import { AUDIT_ACTIONS as UI_ACTIONS } from '../ui/src/audit/audit-actions.js';
import { axeViolations, signIn as signInAt } from './support/console-page.js';
import { startConsoleLab, type ConsoleLab } from './support/console-lab.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');
const GW = 'lab-ui';
const skip = openvpnSkipReason() || chromiumSkipReason();

describe('operator console in a real browser, real OpenVPN gateway', { skip }, () => {
  let stack: ConsoleLab;
  let server: LabServer;
  let h: AppHarness;
  let page: Page;
  let clients: Map<string, LabClient>;
  const problems: string[] = [];
  const scripts: { path: string; headers: Record<string, string> }[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const row = (user: string) => page.locator(`tbody tr[data-user="${user}"]:not([data-state="leaving"])`);
  const signIn = (token: string) => signInAt(page, h.url, token);

  before(async () => {
    stack = await startConsoleLab({
      artifacts: ARTIFACTS,
      gateway: { id: GW, name: 'Lab Frankfurt', region: 'eu-lab-1' },
      users: ['alice', 'bob', 'carol'],
      server: { managementPassword: 'mgmt-secret-pw' },
      problems,
      // Only the bad token's 401 is expected; any other failed request is a defect of the console.
      expected: (status, path) => status === 401 && path === '/graphql',
    });
    ({ server, h, page, clients } = stack);
    page.on('response', async (r) => {
      if (new URL(r.url()).pathname.startsWith('/assets/'))
        scripts.push({ path: new URL(r.url()).pathname, headers: await r.allHeaders() });
    });
  });
  after(() => stack?.close());

  test('a bad token gets a clear message and stays on sign-in', async () => {
    await signIn('sb_this-is-not-a-token');
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    assert.match(
      await page.getByRole('alert').innerText(),
      /This token was not accepted: it is unknown, expired or revoked/,
    );
    assert.equal(await page.getByRole('heading', { name: 'Sessions online' }).count(), 0);
    await shot('01-sign-in-bad-token');
  });

  test('sign in with an admin token: its scopes show, the real clients are listed', async () => {
    await signIn(h.admin);
    await page.getByRole('heading', { name: 'Sessions online' }).waitFor();
    assert.deepEqual(
      await page.getByRole('list', { name: 'Scopes of this token' }).getByRole('listitem').allInnerTexts(),
      ['admin'],
    );
    for (const user of ['alice', 'bob', 'carol']) await row(user).waitFor({ timeout: 15_000 });
    const alice = row('alice');
    assert.match(await alice.innerText(), /Lab Frankfurt/);
    assert.match(await alice.innerText(), /eu-lab-1/);
    assert.match(await alice.innerText(), /127\.0\.0\.1:\d+/, 'client address');
    assert.match(await alice.innerText(), /198\.\d+\.\d+\.\d+/, 'virtual address');
    await page.getByText(/^3 online/).waitFor();
    // Live from the sessionEvents subscription (WebSocket), not from polling.
    await page.locator('[data-live="events"]').waitFor();
    // The token is kept for this tab only.
    assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), h.admin);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    // The bundle came compressed (the build's precompressed copy), with Vary for caches.
    const js = scripts.find((s) => s.path.endsWith('.js'));
    assert.ok(js, 'the script was loaded');
    assert.match(js.headers['content-encoding'] ?? '', /^(br|gzip)$/, JSON.stringify(js.headers));
    assert.equal(js.headers.vary, 'accept-encoding');
    assert.deepEqual(await axeViolations(page), [], 'axe-core: sessions page');
    await shot('02-sessions');
  });

  test("filter by user: only that user's session, and the total says so", async () => {
    try {
      await page.getByLabel('User', { exact: true }).fill('bob');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('1 online matching the filters').waitFor();
      // Another filter is another table: the other rows go at once (no "leaving" rows linger).
      await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1, undefined, {
        timeout: 5000,
      });
      assert.equal(await row('bob').count(), 1);
      assert.equal(await page.locator('tbody tr[data-state="leaving"]').count(), 0);
      await shot('03-sessions-filtered');
    } finally {
      // The later steps need the whole table, whatever happened here.
      await page.getByRole('button', { name: 'Reset' }).click();
    }
    await page.getByText(/^3 online/).waitFor();
  });

  test('find anyone: part of a name in any case, an address as shown, a select that applies at once, sort by column; all of it in the URL', async () => {
    try {
      await page.getByLabel('User', { exact: true }).fill('AR');
      await page.getByLabel('User', { exact: true }).press('Enter');
      await page.getByText('1 online matching the filters').waitFor();
      assert.equal(await row('carol').count(), 1, '"AR" finds carol');
      assert.equal(new URL(page.url()).searchParams.get('userNameContains'), 'AR');
      // A reload (or a shared link) shows the same table.
      await page.reload();
      await page.getByText('1 online matching the filters').waitFor();
      assert.equal(await page.getByLabel('User', { exact: true }).inputValue(), 'AR');
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.getByText(/^3 online/).waitFor();

      const shown = (
        await row('bob')
          .locator('td')
          .filter({ hasText: /^127\.0\.0\.1:\d+$/ })
          .innerText()
      ).trim();
      await page.getByLabel('Address', { exact: true }).fill(shown);
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('1 online matching the filters').waitFor();
      assert.equal(await row('bob').count(), 1, `the client address as shown (${shown}) finds bob`);
      await page.getByRole('button', { name: 'Reset' }).click();

      await page.getByLabel('Gateway').selectOption(GW);
      await page.waitForFunction((gw) => new URL(location.href).searchParams.get('gatewayId') === gw, GW);
      await page.getByText('3 online matching the filters').waitFor();
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.getByText(/^3 online$|^3 online ·/).waitFor();

      const users = () =>
        page
          .locator('tbody tr:not([data-state="leaving"])')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user')));
      const userHeader = page.getByRole('columnheader', { name: /^User/ });
      await userHeader.getByRole('button').click();
      await page.waitForFunction(() => document.querySelector('th[aria-sort]')?.textContent?.startsWith('User'));
      assert.equal(await userHeader.getAttribute('aria-sort'), 'ascending');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('tbody tr')].map((r) => r.getAttribute('data-user')).join() ===
          'alice,bob,carol',
      );
      await userHeader.getByRole('button').click();
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('tbody tr')].map((r) => r.getAttribute('data-user')).join() ===
          'carol,bob,alice',
      );
      assert.equal(new URL(page.url()).searchParams.get('sort'), 'USER.DESC');
      assert.deepEqual(await users(), ['carol', 'bob', 'alice']);
      await shot('03b-sorted');
    } finally {
      await page.goto(`${h.url}/sessions`);
    }
    await page.getByText(/^3 online/).waitFor();
  });

  test('the detail panel shows what the API knows about a session', async () => {
    await page.getByRole('button', { name: /^Details of carol's session/ }).click();
    const panel = page.getByRole('complementary');
    await panel.getByRole('heading', { name: /carol’s session/ }).waitFor();
    const id = await row('carol').getAttribute('data-session-id');
    assert.match(await panel.innerText(), new RegExp(id!));
    assert.match(await panel.innerText(), /Confirmed by its gateway\s+yes/);
    assert.match(await panel.innerText(), /Gateway mode\s+authorize/);
    await shot('04-session-detail');
    await panel.getByRole('button', { name: 'Close session details' }).click();
  });

  test('disconnect one with a reason: the row leaves without a reload, the client process exits', async () => {
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
    const aliceId = await row('alice').getAttribute('data-session-id');
    await row('alice')
      .getByRole('button', { name: /^Disconnect alice/ })
      .click();
    const dialog = page.getByRole('dialog', { name: 'Disconnect alice?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /alice on Lab Frankfurt \(eu-lab-1\), connected for/);
    assert.match(await dialog.innerText(), /Their VPN drops at once/);
    await dialog.getByLabel(/^Reason/).fill('ui test: lost laptop');
    await dialog.getByLabel(/^Message to the user/).fill('Call the helpdesk');
    assert.equal(
      await dialog.getByRole('group', { name: /^Block reconnection/ }).count(),
      1,
      'authorize mode offers a block',
    );
    await shot('05-disconnect-dialog');
    await dialog.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await dialog.getByRole('status').filter({ hasText: /^Done/ }).waitFor();
    await shot('06-disconnect-done');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.locator(`tr[data-session-id="${aliceId}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    await clients.get('alice')!.waitExited(10_000);
    assert.equal(
      await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload),
      true,
      'same page, no reload',
    );
    assert.equal(clients.get('bob')!.exited, false);
    assert.equal(clients.get('carol')!.exited, false);
    await page.getByText(/^2 online/).waitFor();
  });

  test('the audit page lists the disconnect with its reason, newest first', async () => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
    const first = page.locator('tbody tr').first();
    await first.waitFor();
    const text = await first.innerText();
    assert.match(text, /session\.disconnect/);
    assert.match(text, /SUCCESS/);
    assert.match(text, /alice/);
    assert.match(text, /ui test: lost laptop/);
    assert.equal(new URL(page.url()).pathname, '/audit');
    // Filter by action: the disconnect is two rows — its intent (PENDING, written before the gateway
    // was asked) and its settlement (SUCCESS); the bad sign-in never reached the trail.
    await page.getByLabel('Action').selectOption('session.disconnect');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText(/^2 events matching the filters/).waitFor();
    assert.match(await page.locator('tbody tr').nth(1).innerText(), /PENDING/);
    // Every action the API records can be chosen.
    assert.deepEqual(await page.getByLabel('Action').locator('option:not([value=""])').allInnerTexts(), [
      ...AUDIT_ACTIONS,
    ]);
    assert.deepEqual([...UI_ACTIONS], [...AUDIT_ACTIONS], "the console's list is the domain's");
    // A row opens to everything the API has: the mode, the message, the block, the user agent, the zone.
    await page
      .locator('tbody tr')
      .first()
      .getByRole('button', { name: /^Details/ })
      .click();
    const detail = page.locator('tr.detail-row').first();
    await detail.waitFor();
    const details = await detail.innerText();
    assert.match(details, /Mode \(HALT: stays down; RESTART: may reconnect\)\s+HALT/);
    assert.match(details, /Message to the user\s+Call the helpdesk/);
    assert.match(details, /User agent\s+Mozilla\/5\.0 .*HeadlessChrome/);
    assert.match(details, /At\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+/);
    assert.match(await page.locator('thead th').first().innerText(), /^WHEN \(\S+\)$/i, 'the zone is said');
    assert.deepEqual(await axeViolations(page), [], 'axe-core: audit page with a row open');
    await shot('07b-audit-detail');
    // Live: an event written now appears without a reload.
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByText(/events, newest first/).waitFor();
    await h.token(['audit:read'], 'made-while-watching');
    await page
      .locator('tbody tr')
      .filter({ hasText: 'token.create' })
      .filter({ hasText: /SUCCESS/ })
      .first()
      .waitFor({ timeout: 15_000 });
    await page.waitForFunction(
      () => document.querySelector('tbody tr')?.textContent?.includes('token.create'),
      undefined,
      { timeout: 15_000 },
    );
    assert.deepEqual(await axeViolations(page), [], 'axe-core: audit page');
    await shot('07-audit');
  });

  test('the gateways page shows the gateway, its agent and its sessions', async () => {
    await page.getByRole('link', { name: 'Gateways' }).click();
    const gw = page.locator(`tr[data-gateway-id="${GW}"]`);
    await gw.waitFor();
    assert.match(await gw.innerText(), /Lab Frankfurt/);
    assert.match(await gw.innerText(), /authorize/);
    assert.match(await gw.innerText(), /connected/);
    assert.match(await gw.innerText(), /\b2$/m);
    await shot('08-gateways');
    // A reload on a console route lands on the same page (the server answers index.html).
    await page.reload();
    await page.locator(`tr[data-gateway-id="${GW}"]`).waitFor();
  });

  test('a new client appears live, briefly highlighted', async () => {
    await page.getByRole('link', { name: 'Sessions' }).click();
    await row('bob').waitFor();
    clients.set('dave', await server.startClient({ user: 'dave' }));
    await row('dave').waitFor({ timeout: 15_000 });
    await page.getByText(/^3 online/).waitFor();
    await shot('09-new-client-live');
  });

  test('keyboard: Enter opens the disconnect dialog, Escape cancels it and nothing is ended', async () => {
    await row('bob')
      .getByRole('button', { name: /^Disconnect bob/ })
      .focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Disconnect bob?' });
    await dialog.waitFor();
    assert.equal(
      await dialog.getByLabel(/^Reason/).evaluate((el) => el === document.activeElement),
      true,
      'focus moves into the dialog',
    );
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(clients.get('bob')!.exited, false);
    assert.equal(await row('bob').count(), 1);
  });

  test('bulk: every session of one user, then the selected rows; results counted plainly', async () => {
    await page.getByRole('button', { name: /^Details of dave's session/ }).click();
    await page.getByRole('complementary').getByRole('button', { name: 'All sessions of dave…' }).click();
    const perUser = page.getByRole('dialog', { name: 'Disconnect every session of dave?' });
    await perUser.getByLabel(/^Reason/).fill('ui test: offboarding');
    await perUser.getByRole('button', { name: 'Disconnect all' }).click();
    await perUser.getByRole('status').filter({ hasText: 'Done: 1 of 1 ended.' }).waitFor();
    await shot('10-bulk-user-done');
    await perUser.getByRole('button', { name: 'Close' }).click();
    await clients.get('dave')!.waitExited(10_000);
    await row('dave').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Close session details' }).click();

    clients.set('erin', await server.startClient({ user: 'erin' }));
    await row('erin').waitFor({ timeout: 15_000 });
    await row('carol').getByRole('checkbox').check();
    await row('erin').getByRole('checkbox').check();
    await page.getByRole('region', { name: 'Selected sessions' }).getByText('2 selected').waitFor();
    await page.getByRole('button', { name: 'Disconnect selected…' }).click();
    const many = page.getByRole('dialog', { name: 'Disconnect 2 sessions?' });
    await many.getByRole('button', { name: 'Disconnect all' }).click();
    await many.getByRole('status').filter({ hasText: 'Done: 2 of 2 ended.' }).waitFor();
    await many.getByRole('button', { name: 'Close' }).click();
    await clients.get('carol')!.waitExited(10_000);
    await clients.get('erin')!.waitExited(10_000);
    await row('carol').waitFor({ state: 'detached' });
    await row('erin').waitFor({ state: 'detached' });
    await page.getByText(/^1 online/).waitFor();
    assert.equal(clients.get('bob')!.exited, false, 'bob was never selected');
  });

  test('tokens (admin): create with scopes and expiry, the secret shown once and working; revoke after a confirmation', async () => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByLabel('Name').fill('ui-made');
    await page.getByRole('checkbox', { name: 'sessions:read' }).uncheck();
    await page.getByRole('checkbox', { name: 'audit:read' }).check();
    await page.getByLabel('Expires in').selectOption('7d');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByLabel('The new token').innerText()).trim();
    assert.match(secret, /^sbt_/);
    const viewer = await h.gql('{ viewer { name scopes } }', {}, secret);
    assert.deepEqual(viewer.json.data, { viewer: { name: 'ui-made', scopes: ['audit:read'] } });
    const made = page.locator('tbody tr').filter({ hasText: 'ui-made' });
    await made.waitFor();
    assert.match(await made.innerText(), /audit:read/);
    assert.deepEqual(await axeViolations(page), [], 'axe-core: tokens page');
    await shot('10b-tokens');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal(await page.getByText(secret).count(), 0, 'the secret is gone from the page');
    await made.getByRole('button', { name: 'Revoke ui-made…' }).click();
    await made.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.getByText(/^Revoked ui-made/).waitFor();
    await page.waitForFunction(() =>
      document.querySelector('tr[data-state="revoked"]')?.textContent?.includes('ui-made'),
    );
    assert.equal((await h.gql('{ viewer { name } }', {}, secret)).status, 401, 'the revoked token is refused');
    await page.getByRole('link', { name: 'Sessions' }).click();
  });

  test('a sessions:read token sees the sessions but no disconnect button, and no audit page', async () => {
    const reader = await h.token(['sessions:read'], 'read-only');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(reader);
    await row('bob').waitFor();
    assert.deepEqual(
      await page.getByRole('list', { name: 'Scopes of this token' }).getByRole('listitem').allInnerTexts(),
      ['sessions:read'],
    );
    assert.equal(await page.getByRole('button', { name: /^Disconnect/ }).count(), 0);
    assert.equal(await page.getByRole('checkbox').count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Audit' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Tokens' }).count(), 0);
    await page.getByRole('button', { name: /^Details of bob's session/ }).click();
    await page
      .getByRole('complementary')
      .getByRole('heading', { name: /bob’s session/ })
      .waitFor();
    assert.equal(
      await page
        .getByRole('complementary')
        .getByRole('button', { name: /Disconnect|All sessions/ })
        .count(),
      0,
    );
    await shot('11-read-only');
  });

  test('at phone width the open detail panel becomes a sheet over the session cards', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('dialog', { name: 'bob’s session' }).getByRole('heading').waitFor();
    assert.equal(await page.locator('li.card[data-user="bob"]').count(), 1, 'the rows are cards');
    await shot('12-phone');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scroll of the whole page (scrollWidth ${width})`);
    assert.deepEqual(problems, [], 'no script error or CSP violation in the console');
  });
});
