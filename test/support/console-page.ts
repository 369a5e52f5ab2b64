/**
 * Shared steps of the operator console's browser tests: build the console of this tree, open a page
 * that records every script error and unexpected failed request, sign in, and run axe-core (the
 * accessibility engine, from node_modules) on what the page shows.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { ensureBuild } from '../../scripts/ensure-build.mjs';
import type { Browser } from './browser.js';

/**
 * Makes the console in dist/ui current with this tree's ui/ (the one under test). It goes through the
 * same locked, freshness-checked build as `npm test` and `switchboard start`: suites run side by side,
 * and an unconditional `vite build` empties dist/ui under a sibling suite's open page (its scripts then
 * fail to load, and the page never renders).
 */
export function buildConsole(): void {
  if (!ensureBuild({ ui: true })) throw new Error('the console could not be built');
}

/**
 * A new page whose script errors, console errors and failed requests land in `problems`, except
 * HTTP answers that `expected(status, path)` allows (a bad token's 401, a refused disconnect's 503).
 */
export async function openConsolePage(
  browser: Browser,
  problems: string[],
  expected: (status: number, path: string) => boolean,
): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || /status of (401|404|503)/.test(m.text())) return;
    // The browser's own line for a failed request: as allowed as the response it is about.
    const status = /status of (\d{3})/.exec(m.text());
    const url = m.location().url;
    if (status !== null && url !== '' && expected(Number(status[1]), new URL(url).pathname)) return;
    problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !expected(r.status(), new URL(r.url()).pathname))
      problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  return page;
}

export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's violations on the page as it is now, one line each (rule, impact, first targets). The
 * engine is evaluated through the browser's debugging protocol, so the console's strict CSP, which
 * refuses inline scripts, stays as it is.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            ctx: Document,
            o: object,
          ): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(' | ')}`,
    );
  });
  return violations;
}
