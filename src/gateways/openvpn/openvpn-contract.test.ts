/**
 * The adapter contract (../adapter.contract.ts) against a real OpenVPN daemon and real clients on
 * loopback, over TCP (a TCP client reconnects at once when its daemon comes back): an authorize
 * gateway with `management-hold` (it blocks, and no reconnect goes unanswered while the adapter is
 * away) and an observe gateway (it cannot block).
 */
import { describe } from 'node:test';
import { pino } from 'pino';
import type { LabMode } from '../../../test/support/openvpn-lab.js';
import { OpenVpnLab, openvpnSkipReason, type LabClient } from '../../../test/support/openvpn-lab.js';
import { adapterContract, type AdapterHarness } from '../adapter.contract.js';
import { OpenVpnAdapter } from './openvpn-adapter.js';

const skip = openvpnSkipReason();
const logger = pino({ level: 'silent' });

function openVpnHarness(mode: LabMode): () => Promise<AdapterHarness> {
  return async () => {
    const lab = await OpenVpnLab.create();
    const srv = await lab.startServer({ proto: 'tcp4', mode, hold: mode === 'authorize' });
    /** Each user's latest client: a user who comes back is a new client process. */
    const latest = new Map<string, LabClient>();
    const start = async (user: string, waitConnected: boolean) => {
      const client = await srv.startClient({ user, waitConnected });
      latest.set(user, client);
    };
    return {
      canBlock: mode === 'authorize',
      createAdapter: () => {
        const adapter = new OpenVpnAdapter(srv.gatewayConfig(), { logger, observePollMs: 250 });
        adapter.setBlocks([]); // the control plane's first list (none): CONNECTs are held until it comes
        return adapter;
      },
      async connect(user) {
        await start(user, true);
        return { user, passes: async () => latest.get(user)?.exited === false };
      },
      comeBack: (user) => start(user, false),
      stopDaemon: () => srv.stop(),
      async startDaemon() {
        const live = [...latest.values()].filter((c) => !c.exited).map((c) => [c, c.logLength()] as const);
        await srv.start();
        await Promise.all(live.map(([c, from]) => c.waitConnected({ from, timeoutMs: 30_000 })));
      },
      close: () => lab.close(),
    };
  };
}

// The two gateways share nothing (a lab each: own PKI, ports, tun device and clients), so they run side by side.
describe('OpenVPN adapter contract, authorize and observe', { concurrency: true }, () => {
  adapterContract('OpenVPN, authorize gateway', openVpnHarness('authorize'), { skip, timeoutMs: 30_000 });
  adapterContract('OpenVPN, observe gateway (cannot block)', openVpnHarness('observe'), { skip, timeoutMs: 30_000 });
});
