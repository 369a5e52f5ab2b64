/**
 * Issue "Operator console, second pass", the phone layout and quieter row actions, in a real browser
 * (Debian's chromium) against two REAL OpenVPN gateways (one over UDP, one over TCP) with REAL
 * clients, at 375×812 and at desktop size, light and dark: a card per session with its gateway,
 * addresses, time, traffic, status and UDP/TCP; filters folded behind a toggle; details as a modal
 * sheet that opens in view, keeps focus and gives it back; a disconnect from a card that really ends
 * the tunnel (and sets a block with a message); the Audit, Gateways, Tokens and Blocks pages as cards
 * too, no element wider than the screen, their row actions by keyboard; no page scrolls sideways;
 * axe-core finds nothing. Screenshots go to test-artifacts/ui-phone/.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { chromiumSkipReason, launchChromium, type Browser } from './support/browser.js';
import { axeViolations, buildConsole, openConsolePage, signIn } from './support/console-page.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui-phone');
const skip = openvpnSkipReason() || chromiumSkipReason();
const UDP = 'lab-phone-udp';
const TCP = 'lab-phone-tcp';
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1400, height: 900 };

describe(
  'console at phone size: cards, folded filters, details as a sheet; quiet row actions; UDP/TCP',
  { skip },
  () => {
    let lab: OpenVpnLab;
    let udpServer: LabServer;
    let tcpServer: LabServer;
    let h: AppHarness;
    let browser: Browser;
    let page: Page;
    const clients = new Map<string, LabClient>();
    const problems: string[] = [];

    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    const card = (user: string) => page.locator(`li.card[data-user="${user}"]:not([data-state="leaving"])`);
    const sideways = () =>
      page.evaluate(() => {
        const el = document.scrollingElement!;
        return { scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
      });
    const assertNoSidewaysScroll = async (where: string) => {
      const { scrollWidth, clientWidth } = await sideways();
      assert.ok(scrollWidth <= clientWidth, `${where}: the page scrolls sideways (${scrollWidth} > ${clientWidth})`);
    };
    /** Elements (outside screen-reader-only text, which is clipped to 1 px) wider than the viewport. */
    const tooWide = () =>
      page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        return [...document.body.querySelectorAll('*')]
          .filter((el) => el.scrollWidth > width && el.closest('.sr-only') === null)
          .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> ${el.scrollWidth}px`);
      });
    /** Tab from the top of the page until `target` has the focus: the control is reachable by keyboard. */
    const tabTo = async (target: Locator, name: string) => {
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      for (let i = 0; i < 80; i++) {
        await page.keyboard.press('Tab');
        if (await target.evaluate((el) => el === document.activeElement)) return;
      }
      assert.fail(`${name} is not reachable with Tab`);
    };
    const setTheme = async (theme: 'light' | 'dark') => {
      await page.getByLabel('Colour theme').selectOption(theme);
      await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
    };
    const goTo = async (link: string, heading: string) => {
      await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    };

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      buildConsole();
      lab = await OpenVpnLab.create();
      udpServer = await lab.startServer({ proto: 'udp4', mode: 'authorize' });
      tcpServer = await lab.startServer({ proto: 'tcp4', mode: 'authorize' });
      h = await startApp({
        adapters: [
          createAdapter(udpServer.gatewayConfig({ id: UDP, name: 'Lab Lisbon', region: 'eu-south-lab' }), silentLogger),
          createAdapter(tcpServer.gatewayConfig({ id: TCP, name: 'Lab Oslo', region: 'eu-north-lab' }), silentLogger),
        ],
        env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' },
      });
      for (const user of ['alice', 'bob']) clients.set(user, await udpServer.startClient({ user }));
      clients.set('carol', await tcpServer.startClient({ user: 'carol' }));
      browser = await launchChromium(PHONE);
      page = await openConsolePage(browser, problems, () => false);
      await page.emulateMedia({ colorScheme: 'light' });
    });
    after(async () => {
      await browser?.close();
      await h?.close();
      await lab?.close();
    });

    test('phone, light: one card per session with everything the row had, UDP or TCP; no table, no sideways scroll', async () => {
      await signIn(page, h.url, h.admin);
      await page.getByRole('heading', { name: 'Sessions online' }).waitFor();
      for (const user of ['alice', 'bob', 'carol']) await card(user).waitFor({ timeout: 15_000 });
      await page.getByText(/^3 online/).waitFor();
      assert.equal(await page.getByRole('table').count(), 0, 'no table at phone width');
      assert.equal(await page.getByRole('list', { name: 'Online sessions' }).getByRole('listitem').count(), 3);

      for (const [user, gateway, region, transport] of [
        ['alice', 'Lab Lisbon', 'eu-south-lab', 'UDP'],
        ['carol', 'Lab Oslo', 'eu-north-lab', 'TCP'],
      ]) {
        const c = card(user!);
        const text = await c.innerText();
        assert.match(text, new RegExp(`${gateway}\\s+${region}`), `${user}: gateway and region`);
        assert.equal((await c.locator('[data-field="protocol"]').innerText()).trim(), `openvpn · ${transport}`);
        assert.match(await c.locator('[data-field="client"]').innerText(), /^127\.0\.0\.1:\d+$/);
        assert.match(await c.locator('[data-field="virtual"]').innerText(), /^198\.\d+\.\d+\.\d+$/);
        assert.match(text, /Connected\s+\d+ (s|min) ago\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
        assert.match(text, /Traffic\s+↑ [\d.]+ (B|KiB|MiB) ↓ [\d.]+ (B|KiB|MiB)/);
        assert.equal(await c.locator('[data-status]').getAttribute('data-status'), 'live');
        assert.equal(
          await c.getByRole('button', { name: new RegExp(`^Details of ${user}'s session on ${gateway}`) }).count(),
          1,
        );
      }
      await assertNoSidewaysScroll('sessions');
      assert.deepEqual(await axeViolations(page), [], 'axe-core: sessions at phone size, light');
      await shot('01-phone-sessions-light');
    });

    test('phone: the filters are folded behind a toggle that counts the active ones', async () => {
      const toggle = page.getByRole('button', { name: /^Filters/ });
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      assert.equal(await page.getByRole('form', { name: 'Filter sessions' }).isVisible(), false);
      assert.equal(await page.getByLabel('User', { exact: true }).isVisible(), false);
      const before = await page.locator('li.card').first().boundingBox();
      assert.ok(
        before !== null && before.y < PHONE.height / 2,
        `the first card is high on the first screen (y ${before?.y})`,
      );

      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      await page.getByLabel('User', { exact: true }).fill('CAR');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('1 online matching the filters').waitFor();
      await toggle.click();
      assert.equal(await page.getByLabel('User', { exact: true }).isVisible(), false);
      assert.match(await toggle.innerText(), /Filters\s*1 active/);
      assert.equal(await card('carol').count(), 1);
      await assertNoSidewaysScroll('sessions, filtered');
      await shot('02-phone-filtered');
      await toggle.click();
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.getByText(/^3 online/).waitFor();
      await toggle.click();
      assert.doesNotMatch(await toggle.innerText(), /active/);
    });

    test('phone: details open as a sheet in view, keep focus inside, close with Escape and give focus back to the card', async () => {
      const open = card('bob').getByRole('button', { name: /^Details of bob's session/ });
      await open.scrollIntoViewIfNeeded();
      const scrolled = await page.evaluate(() => window.scrollY);
      await open.click();
      const sheet = page.getByRole('dialog', { name: 'bob’s session' });
      await sheet.waitFor();
      const heading = await sheet.getByRole('heading', { name: 'bob’s session' }).boundingBox();
      assert.ok(
        heading !== null && heading.y >= 0 && heading.y + heading.height <= PHONE.height * 0.6,
        `the sheet's heading is in the upper part of the first screen (y ${heading?.y})`,
      );
      assert.equal(await page.evaluate(() => window.scrollY), scrolled, 'the page did not scroll to reach it');
      assert.match(await sheet.innerText(), /Protocol\s+openvpn · UDP/);
      assert.equal(
        await page.evaluate(() => document.activeElement?.closest('dialog') !== null),
        true,
        'focus is in the sheet',
      );
      // Focus stays inside while tabbing through everything (the page under it is inert).
      for (const [i, key] of [...Array(8).fill('Tab'), ...Array(5).fill('Shift+Tab')].entries()) {
        await page.keyboard.press(key as string);
        assert.equal(
          await page.evaluate(() => document.activeElement?.closest('dialog.sheet') !== null),
          true,
          `${key} (press ${i + 1}) left the sheet`,
        );
      }
      await assertNoSidewaysScroll('sessions, sheet open');
      assert.deepEqual(await axeViolations(page), [], 'axe-core: the sheet, light');
      await page.screenshot({ path: join(ARTIFACTS, '03-phone-sheet-light.png') });
      await page.keyboard.press('Escape');
      await sheet.waitFor({ state: 'detached' });
      await page.waitForFunction(() =>
        document.activeElement?.getAttribute('aria-label')?.startsWith("Details of bob's"),
      );
    });

    test('phone: the row action is quiet; Disconnect from a card ends the real tunnel, the red is the dialog’s confirm', async () => {
      const button = card('alice').getByRole('button', { name: /^Disconnect alice \(sess_/ });
      const colours = async (selector: typeof button) =>
        selector.evaluate((el) => {
          const s = getComputedStyle(el);
          return { background: s.backgroundColor, color: s.color };
        });
      const danger = await page.evaluate(() =>
        getComputedStyle(document.documentElement).getPropertyValue('--danger').trim(),
      );
      const quiet = await colours(button);
      assert.equal(quiet.background, 'rgba(0, 0, 0, 0)', 'no solid fill on the row action');
      const aliceId = await card('alice').getAttribute('data-session-id');
      await button.click();
      const dialog = page.getByRole('dialog', { name: 'Disconnect alice?' });
      await dialog.waitFor();
      await dialog.getByLabel(/^Reason/).fill('phone test: lost phone');
      // A block with a message, for the Blocks page's card and its Lift… below.
      await dialog.getByLabel(/^Message to the user/).fill('Your phone was reported lost: call the help desk.');
      await dialog.getByRole('radio', { name: '1 h' }).check();
      const confirm = dialog.getByRole('button', { name: 'Disconnect', exact: true });
      const solid = await colours(confirm);
      assert.notEqual(solid.background, 'rgba(0, 0, 0, 0)');
      assert.equal(
        solid.background,
        await page.evaluate((c) => {
          const probe = document.createElement('span');
          probe.style.color = c;
          document.body.append(probe);
          const rgb = getComputedStyle(probe).color;
          probe.remove();
          return rgb;
        }, danger),
        'the confirm is the solid destructive colour',
      );
      await assertNoSidewaysScroll('disconnect dialog');
      await page.screenshot({ path: join(ARTIFACTS, '04-phone-disconnect-dialog.png') });
      await confirm.click();
      await dialog.getByRole('status').filter({ hasText: /^Done/ }).waitFor();
      await dialog.getByRole('button', { name: 'Close' }).click();
      await page.locator(`li.card[data-session-id="${aliceId}"]`).waitFor({ state: 'detached', timeout: 10_000 });
      await clients.get('alice')!.waitExited(10_000);
      assert.equal(clients.get('bob')!.exited, false);
      assert.equal(clients.get('carol')!.exited, false);
      await page.getByText(/^2 online/).waitFor();
    });

    test('phone: audit, gateways, tokens and blocks are cards, no element wider than the screen, axe-core clean, light and dark', async () => {
      for (const theme of ['light', 'dark'] as const) {
        await setTheme(theme);
        for (const [link, heading, name, cards] of [
          ['Audit', 'Audit trail', 'audit', 'Audit events'],
          ['Gateways', 'Gateways', 'gateways', 'Gateways and their health'],
          ['Tokens', 'API tokens', 'tokens', 'API tokens'],
          ['Blocks', 'Blocks in force', 'blocks', 'Blocks in force'],
        ] as const) {
          await goTo(link, heading);
          await page.locator('li.card').first().waitFor();
          assert.equal(await page.getByRole('table').count(), 0, `${name}: no table at phone width`);
          assert.ok((await page.getByRole('list', { name: cards }).getByRole('listitem').count()) > 0);
          await assertNoSidewaysScroll(`${name}, ${theme}`);
          assert.deepEqual(await tooWide(), [], `${name}, ${theme}: elements wider than the viewport`);
          if (name === 'audit') {
            // The audit filters fold like the sessions' ones: the first screen shows events, not fields.
            const toggle = page.getByRole('button', { name: /^Filters/ });
            assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
            assert.equal(await page.getByRole('form', { name: 'Filter audit events' }).isVisible(), false);
            await toggle.click();
            assert.equal(await page.getByRole('form', { name: 'Filter audit events' }).isVisible(), true);
            await toggle.click();
          }
          if (name === 'gateways') {
            assert.equal(await page.locator('li.card[data-health="ok"]').count(), 2, 'both gateways, healthy');
            assert.match(await page.locator('li.card[data-gateway-id="lab-phone-tcp"]').innerText(), /Lab Oslo/);
          }
          if (name === 'blocks') {
            const alice = page.locator('li.card[data-block-user="alice"]');
            assert.match(await alice.innerText(), /phone test: lost phone/);
            assert.equal(
              await alice.locator('[data-field="message"]').innerText(),
              '“Your phone was reported lost: call the help desk.”',
            );
          }
          assert.deepEqual(await axeViolations(page), [], `axe-core: ${name} at phone size, ${theme}`);
          await shot(`05-phone-${name}-${theme}`);
        }
      }
      await goTo('Sessions', 'Sessions online');
      await card('bob').waitFor();
    });

    test('phone: the cards’ row actions work from the keyboard (audit Details and session, Revoke…, Lift…)', async () => {
      await goTo('Audit', 'Audit trail');
      const id = await page.locator('li.card').first().getAttribute('data-audit-id');
      const details = page.locator(`li.card[data-audit-id="${id}"] button[aria-controls="audit-${id}"]`);
      assert.match((await details.textContent()) ?? '', /^Details of /);
      await tabTo(details, 'an audit card’s Details');
      await page.keyboard.press('Enter');
      const detail = page.locator(`li.card [id="audit-${id}"]`);
      await detail.waitFor();
      assert.match(await detail.innerText(), /Event id\s+/);
      assert.equal(await details.getAttribute('aria-expanded'), 'true');
      assert.match((await details.textContent()) ?? '', /^Hide of /);
      assert.deepEqual(await tooWide(), [], 'audit, a card opened: elements wider than the viewport');
      assert.deepEqual(await axeViolations(page), [], 'axe-core: an opened audit card');
      await shot('09-phone-audit-detail');
      await page.keyboard.press('Enter');
      await detail.waitFor({ state: 'detached' });
      const sessionLink = page.locator('li.card[data-session-id] button[title="Every event of this session"]').first();
      const sessionId = (await sessionLink.innerText()).trim();
      await tabTo(sessionLink, 'an audit card’s session');
      await page.keyboard.press('Enter');
      // The trail narrows to that session's story: every card shown is of it.
      await page.waitForFunction((sid) => {
        const cards = [...document.querySelectorAll('li.card')];
        return cards.length > 0 && cards.every((c) => c.getAttribute('data-session-id') === sid);
      }, sessionId);
      assert.match(await page.getByRole('button', { name: /^Filters/ }).innerText(), /1 active/);

      await goTo('Tokens', 'API tokens');
      await page.getByLabel('Name', { exact: true }).fill('phone-test');
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.getByLabel('The new token').waitFor();
      assert.deepEqual(await tooWide(), [], 'tokens, the new secret shown: elements wider than the viewport');
      await page.getByRole('button', { name: 'I have copied it' }).click();
      const token = page.locator('li.card').filter({ hasText: 'phone-test' });
      await token.waitFor();
      await tabTo(token.getByRole('button', { name: 'Revoke phone-test…' }), 'Revoke… on a token card');
      await page.keyboard.press('Enter');
      assert.equal(
        await page.evaluate(() => document.activeElement?.textContent),
        'Cancel',
        'the confirmation has the focus',
      );
      assert.deepEqual(await tooWide(), [], 'tokens, confirming: elements wider than the viewport');
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Enter');
      await page.getByText(/^Revoked phone-test/).waitFor();
      await page.locator('li.card[data-state="revoked"]').filter({ hasText: 'phone-test' }).waitFor();

      await goTo('Blocks', 'Blocks in force');
      const lift = page
        .locator('li.card[data-block-user="alice"]')
        .getByRole('button', { name: /^Lift the block on alice/ });
      await tabTo(lift, 'Lift… on a block card');
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'Lift the block on alice?' });
      await dialog.waitFor();
      assert.deepEqual(await tooWide(), [], 'blocks, lift dialog: elements wider than the viewport');
      await page.keyboard.type('phone test: found');
      await page.keyboard.press('Enter');
      await dialog.getByRole('status').filter({ hasText: 'Lifted: alice may connect to Lab Lisbon again.' }).waitFor();
      await page.keyboard.press('Enter');
      await dialog.waitFor({ state: 'detached' });
      await page.getByText('No user is blocked right now.').waitFor();
      const blocks = await h.gql('{ blocks { userName } }');
      assert.deepEqual(blocks.json.data?.blocks, [], 'the API lists no block');

      await goTo('Sessions', 'Sessions online');
      await card('bob').waitFor();
    });

    test('phone, dark: cards and the sheet, axe-core finds nothing', async () => {
      await setTheme('dark');
      await card('carol').waitFor();
      await assertNoSidewaysScroll('sessions, dark');
      assert.deepEqual(await axeViolations(page), [], 'axe-core: sessions at phone size, dark');
      await shot('06-phone-sessions-dark');
      await card('carol')
        .getByRole('button', { name: /^Details of carol's session/ })
        .click();
      const sheet = page.getByRole('dialog', { name: 'carol’s session' });
      await sheet.waitFor();
      assert.match(await sheet.innerText(), /Protocol\s+openvpn · TCP/);
      assert.deepEqual(await axeViolations(page), [], 'axe-core: the sheet, dark');
      await page.screenshot({ path: join(ARTIFACTS, '07-phone-sheet-dark.png') });
      await sheet.getByRole('button', { name: 'Close session details' }).click();
      await sheet.waitFor({ state: 'detached' });
      await page.waitForFunction(() =>
        document.activeElement?.getAttribute('aria-label')?.startsWith("Details of carol's"),
      );
    });

    test('desktop, light and dark: the table stays, with UDP/TCP and a quiet Disconnect per row; filters open', async () => {
      await page.setViewportSize(DESKTOP);
      const table = page.getByRole('table', { name: 'Online sessions' });
      await table.waitFor();
      assert.equal(await page.locator('li.card').count(), 0, 'no cards at desktop size');
      assert.equal(await page.getByRole('button', { name: /^Filters/ }).count(), 0, 'no filter toggle');
      assert.equal(await page.getByLabel('User', { exact: true }).isVisible(), true);
      const carol = page.locator('tbody tr[data-user="carol"]');
      assert.match(await carol.innerText(), /openvpn · TCP/);
      assert.match(await page.locator('tbody tr[data-user="bob"]').innerText(), /openvpn · UDP/);
      const background = await carol
        .getByRole('button', { name: /^Disconnect carol/ })
        .evaluate((el) => getComputedStyle(el).backgroundColor);
      assert.equal(background, 'rgba(0, 0, 0, 0)', 'no solid fill on the row action');
      // The details are the side panel again, not a dialog.
      await page.getByRole('button', { name: /^Details of carol's session/ }).click();
      await page.getByRole('complementary').getByRole('heading', { name: 'carol’s session' }).waitFor();
      assert.equal(await page.getByRole('dialog').count(), 0);
      for (const theme of ['dark', 'light'] as const) {
        await setTheme(theme);
        await assertNoSidewaysScroll(`desktop sessions, ${theme}`);
        assert.deepEqual(await axeViolations(page), [], `axe-core: desktop sessions, ${theme}`);
        await shot(`08-desktop-${theme}`);
      }
      assert.deepEqual(problems, [], 'no script error or failed request in the console');
    });
  },
);
