/**
 * The demo on WireGuard: a wireguard-go server and one wireguard-go client per user, each in a
 * network namespace of its own, joined by veth pairs (src/lab/wireguard-lab.ts). Every client pings
 * the server through its tunnel, so its handshakes keep its session online.
 */
import { WireGuardLab, wireguardAvailable } from '../lab/wireguard-lab.js';
import { ensureInstalled, isRoot, runs, type DemoBackend, type DemoRun } from './demo-backend.js';
import { UsageError } from './usage-error.js';

export const wireguardDemo: DemoBackend = {
  daemon: 'a real WireGuard interface',
  clients: 'real WireGuard clients in network namespaces of their own',
  prepare(say) {
    if (!isRoot()) throw new UsageError('the WireGuard demo makes network namespaces and tun devices: run it as root');
    if (!runs('ip', ['-V']) || !runs('ping', ['-V']))
      throw new UsageError('the WireGuard demo needs ip and ping: apt-get install -y iproute2 iputils-ping');
    ensureInstalled(say, 'wireguard-go and wg', ['wireguard-go', 'wireguard-tools'], wireguardAvailable);
  },
  async start(say, users): Promise<DemoRun> {
    const lab = await WireGuardLab.create();
    try {
      for (const user of users) await lab.reserve(user);
      say(
        `Started a real WireGuard server (wireguard-go, interface ${lab.interface}) in network namespace ${lab.serverNetns}.`,
      );
      return {
        dir: lab.dir,
        // Every user's key is made now, so the gateway entry maps each peer to its user before it connects.
        gateway: lab.gatewayConfig({
          id: 'demo-wg',
          name: 'Demo WireGuard gateway',
          region: 'local',
          pollIntervalSeconds: 1,
          snapshotIntervalMs: 5000,
        }),
        connect: async (user) => void (await lab.addClient(user)),
        disconnectEffect:
          'her peer is removed from the interface and her tunnel stops (WireGuard cannot tell her client; it keeps trying)',
        notes: () =>
          [
            `The interface's peers: wg show ${lab.interface}`,
            ...lab.peers
              .filter((p) => p.user === 'alice')
              .map(
                (p) => `Alice's tunnel (no answer once ended): ip netns exec ${p.netns} ping -c 3 ${lab.serverAddress}`,
              ),
            `Keys, the state file and the store are in ${lab.dir}.`,
          ].join('\n'),
        close: () => lab.close(),
      };
    } catch (e) {
      await lab.close();
      throw e;
    }
  },
};
