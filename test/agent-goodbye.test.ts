/**
 * A `switchboard agent` stopped cleanly says goodbye (real processes: a `switchboard start` control
 * plane and an agent over NATS, a real OpenVPN daemon): after SIGTERM the API shows the gateway's
 * `agentConnected: false` as soon as the control plane heard it, with `statusSince` moved, although the
 * control plane's liveness window here is an hour (without the goodbye it would read true all that hour).
 * And the single-host process: its own stop applies its in-process agents' goodbyes before the store
 * closes, so the stored record (what other readers of the database see) does not say connected.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomId } from '../src/domain/ids.js';
import { GATEWAY_PROBLEM } from '../src/domain/gateway.js';
import { agentConnected, apiClient, gatewayLink, type GatewayLink } from './support/api-client.js';
import { startAgentOverNats, type AgentOverNats } from './support/agent-over-nats.js';
import { natsSkipReason } from './support/nats-server.js';
import { OpenVpnLab, openvpnSkipReason } from './support/openvpn-lab.js';
import { waitFor } from './support/wait.js';
import { startApp } from './support/app-harness.js';
import { FakeAdapter } from './support/fake-adapter.js';
import { databaseFor, postgresSkipReason } from './support/postgres.js';
import { openStore } from '../src/store/kysely/kysely-store.js';
import { chromiumSkipReason, launchChromium } from './support/browser.js';
import { buildConsole, openConsolePage, signIn } from './support/console-page.js';

const skip = openvpnSkipReason() || (await natsSkipReason()) || chromiumSkipReason();

describe('switchboard agent says goodbye when it stops', { skip, timeout: 180_000 }, () => {
  const run = randomId(6); // the NATS server is shared: unique subjects and gateway ids
  const gw = `bye-${run}`;
  let lab: OpenVpnLab;
  let stack: AgentOverNats | undefined;

  const link = () => gatewayLink(apiClient(stack!.url, stack!.admin), gw);

  before(async () => {
    lab = await OpenVpnLab.create();
    const server = await lab.startServer({ proto: 'udp4', mode: 'observe', managementPassword: 'agent-bye-pw' });
    const gatewayFile = join(lab.dir, 'gateways.json');
    writeFileSync(
      gatewayFile,
      JSON.stringify({
        gateways: [
          {
            id: gw,
            name: 'Goodbye',
            region: 'lab',
            protocol: 'openvpn',
            mode: 'observe',
            management: server.management,
            managementPasswordFile: server.managementPasswordFile,
          },
        ],
      }),
    );
    stack = await startAgentOverNats({
      dir: lab.dir,
      gatewayFile,
      gatewayId: gw,
      prefix: `agentbye${run}`,
      // An hour: without the goodbye the stopped agent's gateway would read connected all that time.
      controlEnv: { SWITCHBOARD_GATEWAY_LIVENESS_MS: '3600000' },
    });
  });
  after(async () => {
    await stack?.close();
    await lab?.close();
  });

  test('SIGTERM: the API shows agentConnected false and statusSince moved, long before the liveness window', async () => {
    const linked = await link();
    assert.equal(linked?.agentConnected, true, 'linked before the stop');
    const stoppedAt = Date.now();
    stack!.agent.kill('SIGTERM');
    await stack!.agent.waitExited();
    assert.equal(stack!.agent.exitCode, 0, 'a clean stop');
    let seen: GatewayLink | undefined;
    await waitFor(
      async () => (seen = await link())?.agentConnected === false,
      20_000,
      () => `the link shown down (last seen ${JSON.stringify(seen ?? null)})`,
    );
    // The same machine's clock: the control plane recorded the change after the signal was sent.
    assert.ok(Date.parse(seen!.statusSince ?? '') >= stoppedAt, 'statusSince moved to the goodbye');
    assert.equal(seen!.lastError, GATEWAY_PROBLEM.agentStopped);

    // The console says it of the agent: stopped, when; never "running".
    buildConsole();
    const browser = await launchChromium();
    try {
      const problems: string[] = [];
      const page = await openConsolePage(browser, problems, () => false);
      await signIn(page, stack!.url, stack!.admin);
      await page.getByRole('link', { name: 'Gateways' }).click();
      const agent = page.locator(`tr[data-gateway-id="${gw}"] [data-agent]`);
      await agent.waitFor();
      assert.match(await agent.innerText(), /^stopped \d+ s ago \(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/);
      assert.deepEqual(problems, [], 'no script error, no failed request');
    } finally {
      await browser.close();
    }
  });
});

const stores = { sqlite: false as const, postgres: await postgresSkipReason() };
for (const dialect of ['sqlite', 'postgres'] as const) {
  test(
    `single host (${dialect}): stopping the process leaves its gateways recorded as not connected`,
    {
      skip: stores[dialect],
    },
    async () => {
      const db = await databaseFor(dialect);
      // A file for SQLite: the record is read after the process's store closed.
      const app = await startApp({
        adapters: [new FakeAdapter({ id: 'bye-single' })],
        ...(dialect === 'postgres' ? { databaseUrl: db.url } : {}),
        env: { SWITCHBOARD_GATEWAY_LIVENESS_MS: '3600000' },
      });
      try {
        await waitFor(async () => (await agentConnected(app.gql, 'bye-single')) === true, 10_000, 'linked');
      } finally {
        await app.close();
      }
      const store = await openStore(app.databaseUrl);
      try {
        const g = await store.gateways.findById('bye-single');
        assert.equal(g?.agentConnected, false, 'recorded as not connected');
        assert.equal(g?.lastError, GATEWAY_PROBLEM.agentStopped);
      } finally {
        await store.close();
        await db.drop();
      }
    },
  );
}
