/**
 * Blocks are honest, with REAL OpenVPN: a disconnect with `blockSeconds` on a gateway that cannot
 * enforce it (observe mode; an authorize gateway whose daemon lacks management-client-auth) is
 * refused with BLOCK_UNSUPPORTED and nothing is done: the client keeps running, its session online.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient, type LabServer } from './support/openvpn-lab.js';
import { onlineSessions } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { createLogger } from '../src/main.js';

const GATEWAYS = '{ gateways { id mode canBlock warning } }';
const DISCONNECT = `mutation ($id: String!) { disconnectSession(input: { sessionId: $id, blockSeconds: 300 }) { outcome } }`;
const skip = openvpnSkipReason();

interface GatewayRow {
  id: string;
  mode: string;
  canBlock: boolean;
  warning: string | null;
}

describe(
  'OpenVPN: a block the gateway cannot enforce is refused and nothing is done',
  { skip, timeout: 90_000 },
  () => {
    let lab: OpenVpnLab;
    let observeServer: LabServer;
    let plainServer: LabServer;
    let h: AppHarness;
    const logs: string[] = [];
    const observeGw = `ovpn-observe-${process.pid}`;
    const mismatchGw = `ovpn-mismatch-${process.pid}`;

    const gateway = async (id: string): Promise<GatewayRow> => {
      const r = await h.gql(GATEWAYS);
      assert.equal(r.status, 200, r.text);
      return (r.json.data!.gateways as GatewayRow[]).find((g) => g.id === id)!;
    };
    const sessionOf = (gw: string, user: string) =>
      waitFor(
        async () => {
          return (await onlineSessions(h.gql, gw)).find((n) => n.user.name === user);
        },
        15_000,
        `${user} online on ${gw}`,
      );

    /** Refused with BLOCK_UNSUPPORTED; the client still runs and its session is still online. */
    const assertRefused = async (gw: string, client: LabClient, user: string) => {
      const row = await sessionOf(gw, user);
      const mark = client.logLength();
      const r = await h.gql(DISCONNECT, { id: row.id });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.errors?.[0]?.extensions?.code, 'BLOCK_UNSUPPORTED');
      assert.ok(await h.app.store.sessions.findOnline(row.id), 'session still online');
      const audit = await h.app.store.audit.list({ first: 5, filter: { targetSessionId: row.id } });
      assert.deepEqual(
        audit.rows.map((a) => [a.outcome, a.errorCode]),
        [['REFUSED', 'BLOCK_UNSUPPORTED']],
      );
      // A disconnect without a block on the same session is the proof that the link works: the client
      // hears about that one (HALT), so had the refused one been sent it would have heard it too.
      const halt = await h.gql('mutation ($id: String!) { disconnectBySessionId(onlineSessionId: $id) }', {
        id: row.id,
      });
      assert.deepEqual(halt.json, { data: { disconnectBySessionId: true } });
      const line = await client.waitForLog(/Halt command was pushed by server|server-pushed-halt/, {
        from: mark,
        timeoutMs: 10_000,
      });
      assert.ok(line, 'the first command the client heard of is the unblocked disconnect');
      assert.equal(
        client
          .log()
          .slice(mark)
          .match(/Halt command was pushed/g)?.length,
        1,
        'pushed once: the refused disconnect sent nothing',
      );
    };

    before(async () => {
      lab = await OpenVpnLab.create();
      observeServer = await lab.startServer({ proto: 'udp4', mode: 'observe' });
      plainServer = await lab.startServer({ proto: 'udp4', mode: 'observe' });
      const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
      const adapters = [
        createAdapter(observeServer.gatewayConfig({ id: observeGw, snapshotIntervalMs: 2000 }), logger),
        // The gateway file says authorize, but this daemon runs without management-client-auth.
        createAdapter(
          plainServer.gatewayConfig({ id: mismatchGw, mode: 'authorize', snapshotIntervalMs: 2000 }),
          logger,
        ),
      ];
      h = await startApp({ adapters, env: { SWITCHBOARD_DISCONNECT_TIMEOUT_MS: '3000' } });
    });
    after(async () => {
      await h?.close();
      await lab?.close();
    });

    test('observe gateway: canBlock false; a disconnect with blockSeconds is BLOCK_UNSUPPORTED and kills nothing', async () => {
      assert.deepEqual(await gateway(observeGw), { id: observeGw, mode: 'observe', canBlock: false, warning: null });
      const olga = await observeServer.startClient({ user: 'olga' });
      await assertRefused(observeGw, olga, 'olga');
    });

    test('authorize gateway whose daemon lacks management-client-auth: found at the first client, a warning, then BLOCK_UNSUPPORTED', async () => {
      await waitFor(async () => (await gateway(mismatchGw))?.canBlock === true, 10_000, 'linked, not known yet');
      // A client created after the link came up (whole seconds): its missing CONNECT is the evidence.
      const linked = Math.floor(Date.now() / 1000);
      await waitFor(() => Math.floor(Date.now() / 1000) > linked, 2000, 'the next second');
      const pete = await plainServer.startClient({ user: 'pete' });
      const g = await waitFor(
        async () => {
          const row = await gateway(mismatchGw);
          return row.warning ? row : null;
        },
        10_000,
        'the mismatch reported on the gateway',
      );
      assert.equal(g.canBlock, false);
      assert.match(g.warning!, /does not run management-client-auth/);
      assert.ok(
        logs.some((l) => l.includes('"level":40') && l.includes('does not run management-client-auth')),
        'a warning in the log',
      );
      await assertRefused(mismatchGw, pete, 'pete');
    });
  },
);
