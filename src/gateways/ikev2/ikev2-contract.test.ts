/**
 * The adapter contract (../adapter.contract.ts) against a real strongSwan charon responder and real
 * charon initiators in their own network namespaces, the tunnels carrying real ESP (userspace,
 * kernel-libipsec). `passes()` is real traffic: a datagram from the client through its tunnel must
 * reach the responder (its CHILD SA's inbound bytes grow). bob's initiator has `close_action = start`
 * (it comes back by itself when the gateway deletes its SA, like a phone's "VPN on demand"); alice's
 * and carol's stay down. IKEv2 gateways cannot block.
 */
import { pino } from 'pino';
import { StrongSwanLab, charonSkipReason, type LabClient } from '../../../test/support/strongswan-lab.js';
import { waitFor } from '../../../test/support/wait.js';
import { adapterContract, type AdapterHarness } from '../adapter.contract.js';
import { Ikev2Adapter } from './ikev2-adapter.js';

const skip = charonSkipReason();
const logger = pino({ level: 'silent' });

async function ikev2Harness(): Promise<AdapterHarness> {
  const lab = await StrongSwanLab.create({ clients: 3, users: ['alice', 'bob', 'carol'], reconnecting: ['bob'] });
  const clientOf = (user: string): LabClient => lab.clients.find((c) => c.user === user)!;
  const bytesIn = (user: string) => lab.bytesInFrom(user);
  const passes = async (user: string): Promise<boolean> => {
    const before = await bytesIn(user);
    try {
      await clientOf(user).sendUdp(1);
    } catch {
      return false; // no tunnel: no route to the protected net
    }
    return waitFor(async () => (await bytesIn(user)) > before, 2000, 'traffic', 50).then(
      () => true,
      () => false,
    );
  };
  /** Users whose tunnel was up when the daemon was stopped. */
  let upAtStop: string[] = [];
  return {
    canBlock: false,
    createAdapter: () =>
      new Ikev2Adapter(lab.gatewayConfig({ id: 'ike-contract', snapshotIntervalMs: 1000 }), { logger }),
    async connect(user) {
      await clientOf(user).initiate();
      return { user, passes: () => passes(user) };
    },
    comeBack: (user) => clientOf(user).initiate(),
    async stopDaemon() {
      upAtStop = [];
      for (const c of lab.clients) if (await c.established()) upAtStop.push(c.user);
      await lab.responder.stop(); // a stopping charon sends each peer a DELETE
    },
    async startDaemon() {
      await lab.responder.start();
      // bob's initiator comes back by itself (close_action = start, retrying until the gateway is up;
      // dead peer detection if his new SA was made with the charon that was stopping, which then
      // went away without a DELETE: his own charon says ESTABLISHED, so the responder is asked);
      // the others, told by the DELETE that the gateway went away, are connected again by hand.
      for (const user of upAtStop) {
        if (user === 'bob') await waitFor(() => lab.establishedAtResponder('bob'), 30_000, 'bob back by himself', 100);
        else await clientOf(user).initiate();
      }
    },
    close: () => lab.close(),
  };
}

adapterContract('IKEv2 (strongSwan charon over VICI)', ikev2Harness, { skip, timeoutMs: 30_000 });
