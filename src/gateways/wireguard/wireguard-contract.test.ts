/**
 * The adapter contract (../adapter.contract.ts) against a real wireguard-go server and wireguard-go
 * clients in network namespaces (src/lab/wireguard-lab.ts), once over each transport (`control`):
 * traffic is a TCP echo through each tunnel; a user comes back by having their peer re-added behind
 * Switchboard's back.
 */
import { describe } from 'node:test';
import { silentLogger } from '../../domain/logger.js';
import { WireGuardLab, wireguardSkipReason, type LabPeer } from '../../lab/wireguard-lab.js';
import { adapterContract, CONTRACT_USERS, type AdapterHarness } from '../adapter.contract.js';
import { WireGuardAdapter } from './wireguard-adapter.js';
import { WIREGUARD_CONTROLS } from '../gateway-config.js';
import { waitFor } from '../../../test/support/wait.js';

const skip = wireguardSkipReason();

// Once per transport (docs/wireguard-gateways.md): over the UAPI socket, and with `wg` (which reaches
// wireguard-go through the same socket, and the kernel module through netlink). The two runs share
// nothing (a lab each: own namespaces, interface and clients; an adapter and state file each), so they
// run at the same time: most of a run is waiting on WireGuard's timers (re-handshakes, the block).
describe('WireGuard adapter contract, once per control transport', { concurrency: true }, () => {
  for (const control of WIREGUARD_CONTROLS)
    adapterContract(
      `WireGuard (wireguard-go, control: ${control})`,
      async (): Promise<AdapterHarness> => {
        const lab = await WireGuardLab.create();
        for (const user of CONTRACT_USERS) await lab.reserve(user);
        const peers = new Map<string, LabPeer>();
        return {
          canBlock: true,
          createAdapter: () => new WireGuardAdapter(lab.gatewayConfig({ control }), { logger: silentLogger }),
          async connect(user) {
            const peer = await lab.addClient(user);
            peers.set(user, peer);
            return { user, passes: () => lab.passes(peer) };
          },
          comeBack: (user) => lab.addPeerToServer(peers.get(user)!),
          stopDaemon: () => lab.stopServer(),
          async startDaemon() {
            await lab.startServer();
            // Back up once every client whose peer the restart's configuration has again passes traffic.
            for (const peer of [...peers.values()].filter((p) => lab.saved.includes(p.publicKey))) {
              await waitFor(() => lab.passes(peer), 90_000, `${peer.user} passes after the restart`, 500);
            }
          },
          close: () => lab.close(),
        };
      },
      // The block outlasts seeing the tunnel stop (two 4 s probes) and a try to come back: about 10 s at load 20.
      { skip, timeoutMs: 40_000, blockSeconds: 20 },
    );
});
