/** The demo on OpenVPN: a real server (UDP, authorize mode) on this host's loopback and real clients. */
import { OpenVpnLab, openvpnAvailable } from '../lab/openvpn-lab.js';
import { ensureInstalled, isRoot, runs, type DemoBackend, type DemoRun } from './demo-backend.js';
import { UsageError } from './usage-error.js';

export const openvpnDemo: DemoBackend = {
  daemon: 'a real OpenVPN server',
  clients: 'real OpenVPN clients',
  prepare(say) {
    ensureInstalled(say, 'the openvpn binary', ['openvpn'], openvpnAvailable);
    if (!runs('openssl', ['version']))
      throw new UsageError('the demo needs the openssl binary to make its certificates: apt-get install -y openssl');
    if (!isRoot()) say('note: an OpenVPN server needs a tun device; without root this usually fails.');
  },
  async start(say): Promise<DemoRun> {
    const lab = await OpenVpnLab.create();
    try {
      say('Starting a real OpenVPN server (UDP, authorize mode) on 127.0.0.1…');
      // management-hold, as docs/openvpn-gateways.md advises: the daemon starts once Switchboard holds its
      // management link, so no client's CONNECT goes to nobody (such a client would wait until the agent links
      // and restarts it).
      const server = await lab.startServer({ proto: 'udp4', mode: 'authorize', hold: true });
      return {
        dir: lab.dir,
        gateway: {
          id: 'demo-1',
          name: 'Demo gateway',
          region: 'local',
          protocol: 'openvpn',
          mode: 'authorize',
          management: server.management,
          snapshotIntervalMs: 5000,
        },
        connect: async (user) => void (await server.startClient({ user })),
        disconnectEffect: 'her OpenVPN client is told to halt and exits',
        notes: () => `Client logs are in ${server.dir}.`,
        close: () => lab.close(),
      };
    } catch (e) {
      await lab.close();
      throw e;
    }
  },
};
