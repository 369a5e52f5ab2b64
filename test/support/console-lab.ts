/**
 * The operator console's browser suites on one gateway: a real OpenVPN server in authorize mode, the
 * whole Switchboard attached to it, real clients online, the console built, and Debian's chromium
 * with a page that records problems (see console-page.ts). `close()` takes it all down.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { createAdapter } from '../../src/main.js';
import { silentLogger } from '../../src/domain/logger.js';
import { OpenVpnLab, type LabClient, type LabServer, type ServerOptions } from './openvpn-lab.js';
import { startApp, type AppHarness } from './app-harness.js';
import { launchChromium, type Browser } from './browser.js';
import { buildConsole, openConsolePage } from './console-page.js';

export interface ConsoleLab {
  lab: OpenVpnLab;
  server: LabServer;
  h: AppHarness;
  browser: Browser;
  page: Page;
  /** The clients started for `users`, by user name. */
  clients: Map<string, LabClient>;
  close(): Promise<void>;
}

export async function startConsoleLab(options: {
  artifacts: string;
  gateway: { id: string; name: string; region: string };
  users: string[];
  server?: Partial<ServerOptions>;
  /** Where problems (script errors, failed requests) are collected. */
  problems: string[];
  /** Failed responses that are expected (see `openConsolePage`). */
  expected: (status: number, path: string) => boolean;
}): Promise<ConsoleLab> {
  mkdirSync(options.artifacts, { recursive: true });
  buildConsole();
  const parts: Partial<ConsoleLab> = {};
  // The browser starts while the gateway, Switchboard and the clients do: nothing of it depends on them.
  const launched = launchChromium().then((b) => (parts.browser = b));
  launched.catch(() => undefined); // awaited below; a failure is reported there
  try {
    const lab = (parts.lab = await OpenVpnLab.create());
    const server = await lab.startServer({ proto: 'udp4', mode: 'authorize', ...options.server });
    const adapter = createAdapter(server.gatewayConfig({ ...options.gateway, snapshotIntervalMs: 2000 }), silentLogger);
    parts.h = await startApp({ adapters: [adapter], env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
    const clients = new Map<string, LabClient>();
    for (const user of options.users) clients.set(user, await server.startClient({ user }));
    const page = await openConsolePage(await launched, options.problems, options.expected);
    return { ...(parts as ConsoleLab), lab, server, clients, page, close: () => closeAll(parts) };
  } catch (e) {
    await launched.catch(() => undefined); // so a browser that did start is closed too
    await closeAll(parts);
    throw e;
  }
}

async function closeAll(parts: Partial<ConsoleLab>): Promise<void> {
  await parts.browser?.close();
  await parts.h?.close();
  await parts.lab?.close();
}
