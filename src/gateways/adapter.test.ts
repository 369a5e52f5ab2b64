/**
 * The adapter contract on the test double (test/support/fake-adapter.ts), as an authorize gateway
 * (it blocks) and an observe one (it refuses to). The real adapters run the contract against their
 * daemons: openvpn/openvpn-contract.test.ts, wireguard/wireguard-contract.test.ts.
 */
import type { GatewayMode } from '../domain/gateway.js';
import { FakeAdapter } from '../../test/support/fake-adapter.js';
import { adapterContract, type AdapterHarness } from './adapter.contract.js';

function fakeHarness(mode: GatewayMode): () => Promise<AdapterHarness> {
  return async () => {
    const fake = new FakeAdapter({ id: `gw-contract-${mode}`, mode });
    fake.reconnectOnRestart = true;
    const online = () => [...fake.sessions.values()].map((s) => s.userName);
    let back: string[] = [];
    return {
      canBlock: mode === 'authorize',
      createAdapter: () => fake,
      async connect(user) {
        fake.connect(user);
        return { user, passes: async () => online().includes(user) };
      },
      async comeBack(user) {
        fake.comeBack(user);
      },
      async stopDaemon() {
        back = online();
        fake.linkDown();
      },
      async startDaemon() {
        fake.restart();
        for (const user of back) fake.connect(user);
      },
      close: async () => undefined,
    };
  };
}

// The test double answers at once: a 3 s block is long enough for it.
adapterContract('test double of an authorize gateway', fakeHarness('authorize'), { timeoutMs: 2000, blockSeconds: 3 });
adapterContract('test double of an observe gateway (cannot block)', fakeHarness('observe'), { timeoutMs: 2000 });
