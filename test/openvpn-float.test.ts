/**
 * Addresses stay true, with REAL OpenVPN: a UDP client whose source address changes mid-session
 * (its traffic re-sent from another local address and port, as after a NAT rebinding or a roam)
 * floats on the server; Switchboard keeps its session (same id) and shows the new address, and a
 * search by the new client IP finds it. Both modes: observe notices it at its next status poll,
 * authorize at its next snapshot.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/main.js';
import { silentLogger } from '../src/domain/logger.js';
import { OpenVpnLab, openvpnSkipReason, type LabMode, type LabServer } from './support/openvpn-lab.js';
import { onlineRows } from './support/api-client.js';
import { startApp, type AppHarness } from './support/app-harness.js';
import { waitFor } from './support/wait.js';
import { UdpRelay } from './support/udp-relay.js';

const SESSIONS = `query ($gw: String, $ip: String) { onlineSessions(first: 10, filter: { gatewayId: $gw, clientIp: $ip }) { edges { node {
  id user { name } clientAddress
} } } }`;
const skip = openvpnSkipReason();

interface Row {
  id: string;
  user: { name: string };
  clientAddress: string;
}

describe(
  'OpenVPN: a floating UDP client keeps its session and shows its new address',
  { skip, timeout: 90_000 },
  () => {
    let lab: OpenVpnLab;
    const servers = new Map<LabMode, LabServer>();
    const relays: UdpRelay[] = [];
    let h: AppHarness;
    const gwOf = (mode: LabMode) => `ovpn-float-${mode}-${process.pid}`;

    const rows = async (gw: string, ip?: string): Promise<Row[]> => {
      const r = await h.gql(SESSIONS, { gw, ip: ip ?? null });
      assert.equal(r.status, 200, r.text);
      return onlineRows<Row>(r.json);
    };

    before(async () => {
      lab = await OpenVpnLab.create();
      const adapters = [];
      for (const mode of ['observe', 'authorize'] as LabMode[]) {
        const server = await lab.startServer({ proto: 'udp4', mode });
        servers.set(mode, server);
        adapters.push(createAdapter(server.gatewayConfig({ id: gwOf(mode), snapshotIntervalMs: 1500 }), silentLogger));
      }
      h = await startApp({ adapters });
    });
    after(async () => {
      await h?.close();
      for (const r of relays) r.close();
      await lab?.close();
    });

    for (const mode of ['observe', 'authorize'] as LabMode[]) {
      test(`${mode}: same session id, the new address listed and found by its IP`, async () => {
        const server = servers.get(mode)!;
        const gw = gwOf(mode);
        const relay = await UdpRelay.start({ host: '127.0.0.1', port: server.port }, '127.0.0.2');
        relays.push(relay);
        // Pings every second (the pushed 10 s ignored), so the server hears the client from its new address at once.
        const user = `roamer-${mode}`;
        await server.startClient({
          user,
          remotePort: relay.port,
          extraArgs: ['--ping', '1', '--pull-filter', 'ignore', 'ping'],
        });
        const first = await waitFor(
          async () => (await rows(gw)).find((r) => r.user.name === user),
          15_000,
          `${user} online`,
        );
        assert.match(first.clientAddress, /^127\.0\.0\.2:\d+$/);

        const moved = await relay.rebind('127.0.0.3');
        assert.match(moved, /^127\.0\.0\.3:\d+$/);
        const now = await waitFor(
          async () => (await rows(gw)).find((r) => r.id === first.id && r.clientAddress === moved),
          15_000,
          'the new address listed',
        );
        assert.equal(now.user.name, user);
        assert.deepEqual(
          (await rows(gw, '127.0.0.3')).map((r) => r.id),
          [first.id],
          'found by the new client IP',
        );
        assert.deepEqual(
          (await rows(gw, '127.0.0.2')).map((r) => r.id),
          [],
          'no longer under the old one',
        );
        assert.equal((await rows(gw)).filter((r) => r.user.name === user).length, 1, 'one session, not a second one');
      });
    }
  },
);
