/**
 * The one harness of the real-daemon gateway suites (WireGuard, OpenConnect, IKEv2): a lab of the
 * protocol (its daemon and real clients, made by the suite) and a Switchboard watching it, seen
 * through the API as the gateway's online sessions.
 * - `startGatewayApp`: the whole single-host Switchboard in this process (`*-gateway.test.ts`), with
 *   an admin token made through the API, so it outlives `restart()`.
 * - `startGatewayAgent`: a `switchboard start` control plane and a `switchboard agent` in separate
 *   processes over NATS (`*-agent.test.ts`); the control plane starts while the lab is made.
 * Both give the same `GatewayView`: the gateway's rows with the fields the suite asks for, a user's
 * row once it is online, and the seed mutation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdapter } from '../../src/main.js';
import { silentLogger } from '../../src/domain/logger.js';
import { randomId } from '../../src/domain/ids.js';
import type { GatewayConfig } from '../../src/gateways/gateway-config.js';
import { agentConnected, gql as gqlAt, onlineRows, type Reply, type Variables } from './api-client.js';
import { startApp, type AppHarness } from './app-harness.js';
import { startControlPlaneOverNats, type AgentOverNats } from './agent-over-nats.js';
import { quietPeriod, waitFor } from './wait.js';

/** The seed mutation: end one online session by its id. */
export const DISCONNECT_BY_SESSION_ID =
  'mutation disconnectBySessionId($onlineSessionId: String!) { disconnectBySessionId(onlineSessionId: $onlineSessionId) }';

/** What every row has; a suite asks for more fields (`fields`) and names them in its `Row`. */
export interface GatewayRow {
  id: string;
  user: { name: string };
}

/** What the end-to-end gateway suites read of every session beside `id user { name }`: `SESSION_FIELDS`. */
export interface SessionRow extends GatewayRow {
  gateway: { id: string; protocol: string };
  protocol: string;
  clientAddress: string;
  virtualAddress: string;
  connectedAt: string;
}
export const SESSION_FIELDS = 'gateway { id protocol } protocol clientAddress virtualAddress connectedAt';

export interface GatewayView<Row extends GatewayRow> {
  readonly gatewayId: string;
  /** A GraphQL operation as an admin. */
  gql(query: string, variables?: Variables): Promise<Reply>;
  /** The gateway's online sessions (the answer must be 200). */
  rows(): Promise<Row[]>;
  rowsOf(user: string): Promise<Row[]>;
  /** Waits until `user` has an online session (one `where` accepts, if given); that row. */
  rowOf(user: string, options?: { where?: (row: Row) => boolean; timeoutMs?: number }): Promise<Row>;
  /** The seed mutation for session `id`; its answer. */
  disconnectBySessionId(id: string): Promise<Reply>;
}

function gatewayView<Row extends GatewayRow>(
  gatewayId: string,
  gql: GatewayView<Row>['gql'],
  fields: string,
): GatewayView<Row> {
  const sessions = `query ($gw: String) { onlineSessions(first: 100, filter: { gatewayId: $gw }) { edges { node {
  id user { name } ${fields}
} } } }`;
  const rows = async () => {
    const r = await gql(sessions, { gw: gatewayId });
    assert.equal(r.status, 200, r.text);
    return onlineRows<Row>(r.json);
  };
  const rowsOf = async (user: string) => (await rows()).filter((r) => r.user.name === user);
  return {
    gatewayId,
    gql,
    rows,
    rowsOf,
    rowOf: (user, { where = () => true, timeoutMs = 30_000 } = {}) =>
      waitFor(async () => (await rowsOf(user)).find(where), timeoutMs, `${user} online`),
    disconnectBySessionId: (id) => gql(DISCONNECT_BY_SESSION_ID, { onlineSessionId: id }),
  };
}

export interface GatewayApp<Row extends GatewayRow> extends GatewayView<Row> {
  /** The running Switchboard (another one after `restart()`). */
  readonly h: AppHarness;
  /** The admin token `gql` uses, made through the API: it outlives `restart()`. */
  readonly token: string;
  /**
   * Closes Switchboard and starts it again on the same database (a new adapter for the gateway), waits
   * until its agent reported the gateway, then lets more snapshots pass (every second: none may add or
   * end a session) and the sync settle.
   */
  restart(): Promise<void>;
  /**
   * The daemon is gone: once the gateway shows as not connected, the seed mutation for session `id`
   * answers GATEWAY_UNAVAILABLE within 2 s, and the session is still online.
   */
  unavailableFor(id: string): Promise<void>;
  /** Waits until session `id` has ended with `cause`. */
  endedAs(id: string, cause: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole single-host Switchboard on `gateway` (snapshots every second; a disconnect's deadline and
 * the gateway's liveness 3 s), with an admin token made through the API.
 */
export async function startGatewayApp<Row extends GatewayRow>(options: {
  gateway: GatewayConfig;
  /** The row's fields beside `id user { name }`. */
  fields: string;
}): Promise<GatewayApp<Row>> {
  let h: AppHarness | undefined;
  const start = () =>
    startApp({
      adapters: [createAdapter({ ...options.gateway, snapshotIntervalMs: 1000 }, silentLogger)],
      env: {
        SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000',
        SWITCHBOARD_GATEWAY_LIVENESS_MS: '3000',
      },
      databaseUrl: h?.databaseUrl,
    });
  h = await start();
  let token = '';
  try {
    token = await h.token(['admin']);
  } catch (e) {
    await h.close();
    throw e;
  }
  const view = gatewayView<Row>(
    options.gateway.id,
    (query, variables) => h!.gql(query, variables, token),
    options.fields,
  );
  return {
    ...view,
    token,
    get h() {
      return h!;
    },
    async restart() {
      await h!.close();
      h = await start();
      await waitFor(
        async () => (await agentConnected(view.gql, view.gatewayId)) === true,
        15_000,
        'the new agent reported',
      );
      await quietPeriod(2500);
      await h.app.sync.idle();
    },
    async unavailableFor(id) {
      await waitFor(
        async () => (await agentConnected(view.gql, view.gatewayId)) === false,
        15_000,
        'gateway shown as not connected',
      );
      const t0 = Date.now();
      const r = await view.disconnectBySessionId(id);
      assert.equal(r.json.errors?.[0]?.extensions?.code, 'GATEWAY_UNAVAILABLE', r.text);
      assert.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms`);
      assert.ok(await h!.app.store.sessions.findOnline(id), 'session untouched while the daemon is away');
    },
    async endedAs(id, cause) {
      await waitFor(
        async () => (await h!.app.store.sessions.findById(id))?.endCause === cause,
        20_000,
        `session ${id} ended with ${cause}`,
      );
    },
    close: () => h!.close(),
  };
}

export interface GatewayAgent<Row extends GatewayRow> extends GatewayView<Row> {
  /** The two processes, and the gateway's session events as NATS subscribers see them. */
  readonly stack: AgentOverNats;
  /** Waits until `session.disconnected` of session `id` reached the NATS subscribers. */
  disconnectedOnNats(id: string): Promise<void>;
  /** Stops both processes, removes the control plane's directory and closes the lab. */
  close(): Promise<void>;
}

/**
 * A lab (made by `lab`) behind a `switchboard agent`, reporting to a `switchboard start` control plane
 * over NATS under a prefix of its own. The control plane starts while the lab is made; the agent, once
 * both are up, with a gateway file holding the lab's entry (`gateway(lab, id)`, snapshots every
 * second). Closing the agent closes both processes, the control plane's directory and the lab.
 */
export async function startGatewayAgent<
  Lab extends { dir: string; close(): Promise<void> },
  Row extends GatewayRow,
>(options: {
  /** Short name of the protocol, in the gateway id (`<name>-agent-<run>`) and the NATS prefix. */
  name: string;
  lab: () => Promise<Lab>;
  gateway: (lab: Lab, id: string) => GatewayConfig;
  /** The row's fields beside `id user { name }`. */
  fields: string;
}): Promise<{ lab: Lab; agent: GatewayAgent<Row> }> {
  const run = randomId(6);
  const gatewayId = `${options.name}-agent-${run}`;
  const dir = mkdtempSync(join(tmpdir(), 'sb-agent-'));
  const [lab, control] = await Promise.allSettled([
    options.lab(),
    startControlPlaneOverNats({ dir, gatewayId, prefix: `sb${options.name}${run}` }),
  ]);
  const closeAll = async (stack?: { close(): Promise<void> }) => {
    await stack?.close();
    if (lab.status === 'fulfilled') await lab.value.close();
    await rm(dir, { recursive: true, force: true });
  };
  if (lab.status === 'rejected' || control.status === 'rejected') {
    await closeAll(control.status === 'fulfilled' ? control.value : undefined);
    throw lab.status === 'rejected' ? lab.reason : (control as PromiseRejectedResult).reason;
  }
  const gatewayFile = join(lab.value.dir, 'gateways.yaml');
  writeFileSync(
    gatewayFile,
    JSON.stringify({ gateways: [{ ...options.gateway(lab.value, gatewayId), snapshotIntervalSeconds: 1 }] }),
  );
  let stack: AgentOverNats;
  try {
    stack = await control.value.startAgent(gatewayFile);
  } catch (e) {
    await closeAll();
    throw e;
  }
  const view = gatewayView<Row>(
    gatewayId,
    (query, variables) => gqlAt(stack.url, stack.admin, query, variables),
    options.fields,
  );
  const disconnectedOnNats = async (id: string) => {
    await waitFor(
      () => stack.events.some((e) => e.type === 'session.disconnected' && e.session.id === id),
      10_000,
      'session.disconnected on NATS',
    );
  };
  return { lab: lab.value, agent: { ...view, stack, disconnectedOnNats, close: () => closeAll(stack) } };
}
