/**
 * The console's History view in a real browser (Debian's chromium, playwright-core) against the whole
 * Switchboard attached to a REAL OpenVPN server with REAL clients: from a session's detail the user
 * name opens that user's history, ended sessions included, with how each ended, who ended it, the
 * duration and the traffic; the page's URL reloads to the same view; a client address in the table
 * opens that address's history; axe-core finds nothing in light or dark. Screenshots go to
 * test-artifacts/ui-history/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { onlineIdOf } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { chromiumSkipReason, launchChromium, type Browser } from './support/browser.js';
import { axeViolations, buildConsole, openConsolePage, signIn } from './support/console-page.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { waitFor } from './support/wait.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui-history');
const GW = 'lab-history-ui';
const skip = openvpnSkipReason() || chromiumSkipReason();

describe('console History view, real browser and real OpenVPN clients', { skip }, () => {
  let lab: OpenVpnLab;
  let server: LabServer;
  let h: AppHarness;
  let browser: Browser;
  let page: Page;
  let dana: LabClient;
  let firstId: string;
  let secondId: string;
  const problems: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const historyRow = (id: string) => page.locator(`table[aria-label="Session history"] tr[data-session="${id}"]`);
  const onlineId = (user: string, not?: string) => onlineIdOf(h.gql, GW, user, not);

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    buildConsole();
    lab = await OpenVpnLab.create();
    server = await lab.startServer({ proto: 'udp4', mode: 'observe' });
    const adapter = createAdapter(
      server.gatewayConfig({ id: GW, name: 'Lab Vienna', region: 'eu-lab-2', snapshotIntervalMs: 2000 }),
      silentLogger,
    );
    h = await startApp({ adapters: [adapter] });
    // Dana's first session ends by itself; her second is online when the console opens.
    const first = await server.startClient({ user: 'dana' });
    firstId = await onlineId('dana');
    await first.stop();
    await waitFor(async () => (await h.app.store.sessions.findById(firstId))?.endedAt, 20_000, 'first ended');
    dana = await server.startClient({ user: 'dana' });
    secondId = await onlineId('dana', firstId);
    await server.startClient({ user: 'eve' });
    await onlineId('eve');
    browser = await launchChromium();
    page = await openConsolePage(browser, problems, () => false);
  });
  after(async () => {
    await browser?.close();
    await h?.close();
    await lab?.close();
  });

  test('the user name in a session’s detail opens that user’s history, ended sessions included', async () => {
    await signIn(page, h.url, h.admin);
    await page.getByRole('heading', { name: 'Sessions online' }).waitFor();
    await page.getByRole('button', { name: /^Details of dana's session/ }).click();
    const panel = page.getByRole('complementary');
    await panel.getByRole('link', { name: 'History of user dana' }).click();
    await page.getByRole('heading', { name: 'History: user dana' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/history');
    assert.equal(new URL(page.url()).searchParams.get('user'), 'dana');
    await historyRow(firstId).waitFor();
    assert.deepEqual(
      await page
        .locator('table[aria-label="Session history"] tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-session'))),
      [secondId, firstId],
      'newest first',
    );
    assert.match(await historyRow(secondId).innerText(), /online/);
    assert.match(await historyRow(firstId).innerText(), /Client left/);
    assert.match(await historyRow(firstId).innerText(), /Lab Vienna/);
    assert.match(await historyRow(firstId).innerText(), /\d+ s/, 'a duration');
    await page.getByText(/^2 sessions, online and ended/).waitFor();
    assert.deepEqual(await axeViolations(page), [], 'axe-core: history, light');
  });

  test('an operator’s disconnect shows after a reload of the same URL: cause, who, reason; dark mode passes axe too', async () => {
    const operator = await h.token(['sessions:read', 'sessions:disconnect'], 'night shift');
    const r = await h.gql(
      'mutation ($in: DisconnectSessionInput!) { disconnectSession(input: $in) { outcome } }',
      { in: { sessionId: secondId, reason: 'shared credentials' } },
      operator,
    );
    assert.equal(r.json.errors, undefined, r.text);
    await dana.waitExited(20_000);
    await page.reload();
    await page.getByRole('heading', { name: 'History: user dana' }).waitFor();
    await historyRow(secondId).filter({ hasText: 'Disconnected by an operator' }).waitFor();
    const text = await historyRow(secondId).innerText();
    assert.match(text, /night shift/);
    assert.match(text, /shared credentials/);
    await page.getByText(/^2 sessions, online and ended/).waitFor();
    await shot('01-user-history');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    assert.deepEqual(await axeViolations(page), [], 'axe-core: history, dark');
    await shot('02-user-history-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.getByLabel('Sessions', { exact: true }).selectOption('online');
    await page.getByText(/^0 sessions, online/).waitFor();
    assert.equal(new URL(page.url()).searchParams.get('shown'), 'online');
  });

  test('a client address in the sessions table opens that address’s history', async () => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Sessions' }).click();
    const eveRow = page.locator('tbody tr[data-user="eve"]');
    await eveRow.waitFor();
    const address = await eveRow.getByRole('link', { name: /^History of address / }).innerText();
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    await eveRow.getByRole('link', { name: /^History of address / }).click();
    await page.getByRole('heading', { name: `History: address ${address}` }).waitFor();
    await page.getByText(/^1 session, online and ended/).waitFor();
    assert.match(await page.locator('table[aria-label="Session history"] tbody').innerText(), /eve/);
    assert.deepEqual(await axeViolations(page), [], 'axe-core: address history');
    await shot('03-address-history');
    assert.deepEqual(problems, [], 'no script errors or failed requests');
  });
});
